"""The officers' dashboard under /crop: the queue with filters, a ticket's page with its timeline and sources,
and the same actions as in chat (through router.crop, so the rules and the citizens' updates are the same)."""
from __future__ import annotations

import asyncio
from urllib.parse import quote, unquote
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.web_request import FileField
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, sessionmaker

from nlp.gazetteer import gazetteer
from nlp.rules import taxonomy
from router import crop, lifecycle, replies, routing, sla
from router.templates import status_label
from store import media, ops
from store.models import Officer, Ticket
from web import auth
from web.media import Photos, servable
from web.public import render

# The queue shows what officers still have to do unless asked for more.
WORKING = ("open", "assigned", "in_progress", "reopened", "needs_info")
PAGE = 200
FILTERS = ("area", "agency", "category", "status")
ACTIONS = {"take": "Ambil", "progress": "Sedang dikerjakan", "done": "Selesai (dengan foto hasil)", "reject": "Tolak",
           "reassign": "Alihkan ke dinas"}
NOTICE = "crophub_notice"  # what the last action came to, shown once on the page it redirects to
PATH = "/crop"
PHOTOS = {"report": "photo_file_id", "resolution": "resolution_photo_file_id"}  # before / after


def setup(app: web.Application, sessions: sessionmaker[Session], photos: Photos | None = None) -> None:
    """Add the /crop routes (auth.setup guards them)."""
    board = _Dashboard(sessions, photos or Photos(sessions, max_bytes=10 * 1024 * 1024))
    app.router.add_get("/crop", board.queue)
    app.router.add_get("/crop/tickets/{public_id}", board.ticket)
    app.router.add_get("/crop/tickets/{public_id}/photo/{which}", board.photo)
    app.router.add_post("/crop/tickets/{public_id}/act", board.act)


class _Dashboard:
    def __init__(self, sessions: sessionmaker[Session], photos: Photos) -> None:
        self.sessions = sessions
        self.photos = photos

    async def queue(self, request: web.Request) -> web.Response:
        filters = filters_of(request)
        rows = await asyncio.to_thread(self._queue, filters)
        return render("queue.html", **auth.context(request, rows=rows, filters=filters, query=query_of(filters),
                                                    page=PAGE, **choices()))

    def _queue(self, f: dict[str, str]) -> list[dict[str, Any]]:
        now = datetime.now(timezone.utc)
        with self.sessions() as session:
            return [row(t, now) for t in session.scalars(filtered(f).limit(PAGE))]

    async def ticket(self, request: web.Request) -> web.Response:
        found = await asyncio.to_thread(self._ticket, request.match_info["public_id"])
        if found is None:
            raise web.HTTPNotFound(text="no such ticket")
        notice = unquote(request.cookies.get(NOTICE, ""))[:500] or None
        response = render("ticket.html", **auth.context(request, notice=notice, actions=ACTIONS,
                                                        agencies=sorted(routing.agency_codes()), **found))
        if notice:
            response.del_cookie(NOTICE, path=PATH)
        return response

    def _ticket(self, public_id: str) -> dict[str, Any] | None:
        with self.sessions() as session:
            ticket = ops.ticket_by_public_id(session, public_id)
            if ticket is None:
                return None
            names = {o.id: o.name for o in session.scalars(select(Officer))}
            events = [{"at": e.created_at, "kind": e.kind, "who": _who(e.actor, names), "data": e.data or {}}
                      for e in ops.events_of(session, ticket.id)]
            return {"t": row(ticket, datetime.now(timezone.utc)), "text": ticket.text, "events": events,
                    "sources": ops.ticket_sources(session, ticket.id),
                    "photos": [which for which, column in PHOTOS.items() if servable(getattr(ticket, column))]}

    async def photo(self, request: web.Request) -> web.StreamResponse:
        column = PHOTOS.get(request.match_info["which"])
        if column is None:
            raise web.HTTPNotFound(text="no such photo")
        ref = await asyncio.to_thread(self._photo_ref, request.match_info["public_id"], column)
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
        rest = str(form.get("note", "")).strip()[:2000]
        if verb == "reassign":
            rest = str(form.get("agency", "")).strip()
        upload = form.get("photo")
        photo = upload.file.read() if isinstance(upload, FileField) else b""
        who = auth.user(request)
        public_id = request.match_info["public_id"]
        try:
            notice = await asyncio.to_thread(self._act, public_id, who.officer_id, verb, rest,
                                             photo if verb == "done" else b"")
        except media.MediaError as exc:
            notice = f"Foto tidak diterima: {exc}."
        if notice is None:
            raise web.HTTPNotFound(text="no such ticket")
        # Post, then redirect: a reload shows the page again instead of sending the action twice. The outcome
        # rides along in a short-lived cookie (not the URL, where anyone could write one).
        response = web.HTTPSeeOther(f"{PATH}/tickets/{quote(public_id, safe='')}")
        response.set_cookie(NOTICE, quote(notice, safe=""), max_age=60, path=PATH, httponly=True, samesite="Strict")
        raise response

    def _act(self, public_id: str, officer_id: int, verb: str, rest: str, photo: bytes) -> str | None:
        with self.sessions.begin() as session:
            found = ops.ticket_by_public_id(session, public_id)
            officer = session.get(Officer, officer_id)
            if found is None or officer is None:
                return None
            ticket = session.get(Ticket, found.id, with_for_update=True, populate_existing=True)
            ref, kept = media.prepare(photo, self.photos.max_bytes) if photo else (None, b"")
            notice, rows, _ = crop.act_from_web(session, ticket, officer, verb, rest, ref)  # type: ignore[arg-type]
            if ref and ticket.resolution_photo_file_id == ref:  # type: ignore[union-attr]
                # In the action's transaction: a resolution never names a photo that is not stored, and a
                # refused "done" leaves none behind.
                media.keep(session, {ref: kept})
            outbox = replies.store(session, rows)
            moved = ticket.id if rows else None  # type: ignore[union-attr]
        # As in chat: after the commit, the updates are sent and the ticket's next SLA check is scheduled.
        replies.enqueue_send(outbox)
        if moved is not None:
            sla.schedule([moved])
        return notice


def filters_of(request: web.Request) -> dict[str, str]:
    """The queue's filters from a request's query ("" when absent)."""
    return {k: request.query.get(k, "").strip() for k in FILTERS}


def query_of(filters: Mapping[str, str]) -> str:
    """The filters that are set, as a query string (to carry them from the queue to the map and back)."""
    return urlencode({k: v for k, v in filters.items() if v})


def choices() -> dict[str, Any]:
    """What the filter form offers: categories (code, label), agencies and statuses."""
    tax = taxonomy(None)
    return {"categories": [(c, tax.label(c, "id")) for c in tax.categories], "agencies": sorted(routing.agency_codes()),
            "statuses": lifecycle.STATUSES}


def filtered(f: Mapping[str, str]) -> Select[tuple[Ticket]]:
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
    """A ticket as the dashboard shows it (names rather than codes; its age in hours)."""
    gaz = gazetteer()
    area = gaz.areas.get(t.kelurahan_kode or t.kecamatan_kode or t.kab_kota_kode or "")
    return {"id": t.public_id, "category": taxonomy(None).label(t.category, "id") if t.category else "?",
            "status": t.status, "status_label": status_label(t.status, "id"), "area": area.nama if area else "-",
            "place": t.place_text or "", "agency": routing.agency_name(t.agency) or t.agency or "-",
            "channel": t.channel, "created": t.created_at, "age_h": round((now - t.created_at).total_seconds() / 3600, 1),
            "lat": t.lat, "lon": t.lon}


def _who(actor: str, names: dict[int, str]) -> str:
    """An event's actor in words (a citizen stays "warga": officers see the text, not who wrote it here)."""
    kind, _, ident = actor.partition(":")
    if kind in ("officer", "web") and ident.isdigit():
        return names.get(int(ident), actor)
    return {"citizen": "warga", "router": "sistem", "waze": "Waze", "sla": "SLA"}.get(kind, kind)
