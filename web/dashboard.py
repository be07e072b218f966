"""The officers' dashboard under /crop: the queue with filters, a ticket's page with its timeline and sources,
and the same actions as in chat (through router.crop, so the rules and the citizens' updates are the same)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import quote, unquote, urlencode

from aiohttp import web
from aiohttp.web_request import FileField
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from router import context
from router import clock, closure, crop, handoff, unit
from router.outcome import Outcome
from store import media, ops
from store.models import Officer, Ticket
from web import auth, field, labels, params
from web.labels import ACTIONS
from web.media import Photos, servable
from web.public import Config, city_bounds, render

# The queue shows what officers still have to do unless asked for more.
WORKING = ("open", "assigned", "taken", "in_progress", "reopened", "needs_info")
PAGE = 200
FILTERS = ("area", "agency", "category", "status", "view")  # view: web/field.py's VIEWS
NOTICE = "crophub_notice"  # what the last action came to, shown once on the page it redirects to
PATH = "/crop"
PHOTOS = {"report": "photo_file_id", "resolution": "resolution_photo_file_id"}  # before / after


def setup(app: web.Application, sessions: sessionmaker[Session], photos: Photos | None = None,
          view: Config | None = None) -> None:
    """Add the /crop routes (auth.setup guards them); `view`: the map tiles of the ticket page's map."""
    board = _Dashboard(sessions, photos or Photos(sessions, max_bytes=10 * 1024 * 1024), view or Config())
    app.router.add_get("/crop", board.queue)
    app.router.add_get("/crop/tickets/{public_id}", board.ticket)
    app.router.add_get("/crop/tickets/{public_id}/photo/{which}", board.photo)
    app.router.add_post("/crop/tickets/{public_id}/act", board.act)


class _Dashboard:
    def __init__(self, sessions: sessionmaker[Session], photos: Photos, view: Config) -> None:
        self.sessions = sessions
        self.photos = photos
        self.view = view

    async def queue(self, request: web.Request) -> web.Response:
        filters = filters_of(request)
        rows = await asyncio.to_thread(self._queue, filters, auth.user(request).officer_id)
        return render("queue.html", **auth.context(request, rows=rows, filters=filters, query=query_of(filters),
                                                    page=PAGE, views=views(filters), **choices()))

    def _queue(self, f: dict[str, str], officer_id: int) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        with self.sessions() as session:
            officer = session.get(Officer, officer_id)
            found = field.tickets(session, filtered(f), f["view"], officer, now, PAGE)
            flags = closure.flagged(session, [t.id for t in found])  # verified closure: the queue's badges
            return [{**row(t, now), "flags": flags.get(t.id, [])} for t in found]

    async def ticket(self, request: web.Request) -> web.Response:
        notice = unquote(request.cookies.get(NOTICE, ""))[:500] or None
        response = await self._page(request, notice)
        if notice:
            response.del_cookie(NOTICE, path=PATH)
        return response

    async def _page(self, request: web.Request, notice: str | None, draft: Mapping[str, str] | None = None,
                    status: int = 200) -> web.Response:
        """The ticket's page; `draft` refills the action form (what the officer typed, after a refusal)."""
        found = await asyncio.to_thread(self._ticket, params.ticket_id(request))
        if found is None:
            raise web.HTTPNotFound(text="no such ticket")
        actions = {verb: ACTIONS[verb] for verb in crop.allowed_actions(found["t"]["status"]) if verb in ACTIONS}
        response = render("ticket.html", **auth.context(request, notice=notice, actions=actions, draft=draft or {},
                                                        agencies=labels.agencies(),
                                                        categories=choices()["categories"],
                                                        handoff_targets=labels.handoff_targets(),
                                                        handoff_reasons=labels.handoff_reasons(),
                                                        map=self._map(), **found))
        response.set_status(status)
        return response

    def _map(self) -> dict[str, str]:
        """What the ticket page's map needs: where the city is, and the tiles (none: the outlines alone)."""
        return {"bounds": city_bounds(), "tile_url": self.view.tile_url, "tile_attribution": self.view.tile_attribution}

    def _ticket(self, public_id: str) -> dict[str, Any] | None:
        with self.sessions() as session:
            ticket = ops.ticket_by_public_id(session, public_id)
            if ticket is None:
                return None
            names = {o.id: o.name for o in session.scalars(select(Officer))}
            events = [{"at": clock.show(e.created_at), "iso": clock.iso(e.created_at), "kind": e.kind,
                       "who": labels.actor_words(e.actor, names), "line": labels.event(e.kind, e.data)}
                      for e in ops.events_of(session, ticket.id)]
            return {"t": row(ticket, datetime.now(timezone.utc)), "text": ticket.text, "events": events,
                    "sources": ops.ticket_sources(session, ticket.id),
                    "photos": [which for which, column in PHOTOS.items() if servable(getattr(ticket, column))],
                    "holder": handoff.holder_words(ticket) if ticket.holder_area else None,  # HD: handed to an area
                    # verified closure: what the checks of the officer's "done" photos found, and could not check
                    "flags": closure.flags_of(session, ticket.id), "photo_notes": closure.notes_of(session, ticket.id)}

    async def photo(self, request: web.Request) -> web.StreamResponse:
        column = PHOTOS.get(request.match_info["which"])
        if column is None:
            raise web.HTTPNotFound(text="no such photo")
        ref = await asyncio.to_thread(self._photo_ref, params.ticket_id(request), column)
        return await self.photos.respond(ref)

    def _photo_ref(self, public_id: str, column: str) -> str | None:
        with self.sessions() as session:
            ticket = ops.ticket_by_public_id(session, public_id)
            return getattr(ticket, column) if ticket else None

    async def act(self, request: web.Request) -> web.Response:
        form = await request.post()
        verb = str(form.get("action", ""))
        if verb not in ACTIONS:
            raise web.HTTPBadRequest(text=f"unknown action {verb!r}")
        note = str(form.get("note", "")).strip()[:2000]
        agency = str(form.get("agency", "")).strip()
        category = str(form.get("category", "")).strip()[:64]
        # HD: a handoff's target (area, agency or utility code; "agency" as the form once named it) and reason
        target = str(form.get("target", "") or agency).strip()[:64]
        reason = str(form.get("reason", "")).strip()[:64]
        # end HD
        upload = form.get("photo")
        photo = upload.file.read() if isinstance(upload, FileField) else b""
        who = auth.user(request)
        public_id = params.ticket_id(request)
        # What each verb reads from the form: the agency to reassign to, the category to move to, else the note.
        rest = {"reassign": f"{target} {reason} {note}".strip(), "recategorise": category}.get(verb, note)
        outcome: tuple[str, bool] | None
        if verb == "reassign" and (not target or not reason):
            # The form's own words (the router's answer teaches the chat command, which this form writes for them).
            outcome = ("Pilih tujuan pengalihan dan alasannya, lalu kirim lagi." if not target else
                       "Pilih alasan pengalihan, lalu kirim lagi.", False)
        else:
            try:
                outcome = await asyncio.to_thread(self._act, public_id, who.officer_id, verb, rest,
                                                  photo if verb == "done" else b"")
            except media.MediaError as exc:
                outcome = (f"Foto tidak diterima: {exc}. Pilih foto lain lalu kirim lagi.", False)
        if outcome is None:
            raise web.HTTPNotFound(text="no such ticket")
        notice, done = outcome
        if not done:
            # Refused, nothing changed: the page again, saying why, with what the officer typed still in the form
            # (a photo cannot be refilled: browsers let only the user choose a file).
            return await self._page(request, notice, {"action": verb, "note": note, "agency": agency,
                                                      "category": category, "target": target, "reason": reason},
                                    status=422)
        # Post, then redirect: a reload shows the page again instead of sending the action twice. The outcome
        # rides along in a short-lived cookie (not the URL, where anyone could write one).
        response = web.HTTPSeeOther(f"{PATH}/tickets/{quote(public_id, safe='')}")
        response.set_cookie(NOTICE, quote(notice, safe=""), max_age=60, path=PATH, httponly=True, samesite="Strict")
        raise response

    def _act(self, public_id: str, officer_id: int, verb: str, rest: str, photo: bytes) -> tuple[str, bool] | None:
        """The action in one transaction; → (what to tell the officer, whether anything changed), None when the
        ticket or officer is gone."""
        with self.sessions.begin() as session:
            found = ops.ticket_by_public_id(session, public_id)
            officer = session.get(Officer, officer_id)
            if found is None or officer is None:
                return None
            ticket = session.get(Ticket, found.id, with_for_update=True, populate_existing=True)
            if ticket is None:
                return None
            if verb not in crop.allowed_actions(ticket.status):
                # The page offered it, but the status moved on since (another officer, the citizen, the feed).
                return (f"Tiket {ticket.public_id} sekarang {labels.status_words(ticket.status)}: "
                        f"\"{ACTIONS[verb]}\" tidak bisa dilakukan.", False)
            ref, kept = media.prepare(photo, self.photos.max_bytes) if photo else (None, b"")
            notice, told, done = crop.act_from_web(session, ticket, officer, verb, rest, ref)
            # A change the status and agency do not show (another "in progress" note) still told the reporters.
            done = done or bool(told)
            if ref and ticket.resolution_photo_file_id == ref:
                # In the action's transaction: a resolution never names a photo that is not stored, and a
                # refused "done" leaves none behind.
                media.keep(session, {ref: kept})
                # Verified closure: the EXIF is read from the photo as it came, the stripped one is what is kept.
                closure.upload_seen(session, ticket, ref, photo)
            committed = unit.commit(session, Outcome(tuple(told), moved=frozenset({ticket.id} if told else ()),
                                                     said=notice))
        # As in chat: after the commit, the updates are sent and the ticket's next SLA check is scheduled.
        unit.after_commit(committed)
        return notice, done


def filters_of(request: web.Request) -> dict[str, str]:
    """The queue's filters from a request's query ("" when absent; an unknown view is the whole queue)."""
    found = {k: request.query.get(k, "").strip() for k in FILTERS}
    return {**found, "view": found["view"] if found["view"] in field.VIEWS else ""}


def views(filters: Mapping[str, str]) -> list[tuple[str, str, str, bool]]:
    """The queue's views as tabs: (code, words, the query that opens it with the other filters kept, current)."""
    return [(code, words, query_of({**filters, "view": code}), code == filters["view"])
            for code, words in field.VIEWS.items()]


def query_of(filters: Mapping[str, str]) -> str:
    """The filters that are set, as a query string (to carry them from the queue to the map and back)."""
    return urlencode({k: v for k, v in filters.items() if v})


def choices() -> dict[str, Any]:
    """What the filter form offers, as (code, words): areas per kota, agencies, categories and statuses."""
    tax = context.taxonomy()
    return {"areas": labels.areas(), "agencies": labels.agencies(), "statuses": labels.statuses(),
            "categories": [(c, tax.label(c, "id")) for c in tax.categories]}


def filtered(f: Mapping[str, str]) -> Select[Ticket]:
    """Tickets matching the filters, newest first (the queue's and the officers' map's query)."""
    stmt = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
    if f["status"] == "all":
        pass
    elif f["status"]:
        stmt = stmt.where(Ticket.status == f["status"])
    else:
        stmt = stmt.where(Ticket.status.in_(WORKING))
    if f["category"]:
        stmt = stmt.where(Ticket.category == f["category"])
    if f["agency"]:
        stmt = stmt.where(Ticket.agency == f["agency"])
    if f["area"]:  # a kota, kecamatan or kelurahan code: everything inside it
        code = f["area"]
        stmt = stmt.where((Ticket.kelurahan_kode == code) | (Ticket.kecamatan_kode == code)
                          | (Ticket.kab_kota_kode == code) | Ticket.kelurahan_kode.startswith(code + "."))
    return stmt


def row(t: Ticket, now: datetime) -> dict[str, Any]:
    """A ticket as the dashboard shows it: names rather than codes, times in WIB, its age in hours."""
    area = labels.area_words(t.kelurahan_kode, t.kecamatan_kode, t.kab_kota_kode)
    return {"id": t.public_id, "category": labels.category_words(t.category), "status": t.status,
            "status_label": labels.status_words(t.status), "area": area,
            "place": labels.place_words(t.place_text, area),
            "agency": labels.agency_words(t.agency), "channel": t.channel, "created": clock.show(t.created_at),
            "created_iso": clock.iso(t.created_at), "age_h": round((now - t.created_at).total_seconds() / 3600, 1),
            "lat": t.lat, "lon": t.lon, "sla": field.countdown(t, now)}
