"""The public page of one ticket: `/t/<public id>` (HTML), `/t/<public id>.json` (the same, for programs), its photos
when the city publishes them (`/t/<public id>/photo/report|result`), and `/t?id=…`, where the search boxes send a
ticket number. What the page shows, and what it never shows, is web/public_ticket.py's."""
from __future__ import annotations

import asyncio
from dataclasses import asdict

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from router import ticket_ids
from web import public, public_ticket
from web.errors import refused
from web.media import Photos
from web.public_ticket import TicketView

NOT_PUBLIC = "Tiket {ticket} tidak ditemukan, atau tidak ditampilkan untuk umum."
MALFORMED = "\u201c{text}\u201d bukan nomor tiket. Nomor tiket berbentuk {example}."


def setup(app: web.Application, sessions: sessionmaker[Session], config: public.Config, photos: Photos,
          public_text: bool = True) -> None:
    """Add the ticket pages to `app`; `public_text`: whether a report's (masked) text is shown (web.public_text)."""
    pages = _Pages(sessions, config, photos, public_text)
    app.router.add_get("/t", pages.search)
    app.router.add_get("/t/{name}", pages.ticket)
    app.router.add_get("/t/{public_id}/photo/{which}", pages.photo)


def path(public_id: str) -> str:
    """Where a ticket's public page is, from the site's root."""
    return f"/t/{public_id}"


class _Pages:
    def __init__(self, sessions: sessionmaker[Session], config: public.Config, photos: Photos,
                 public_text: bool) -> None:
        self.sessions = sessions
        self.config = config
        self.photos = photos
        self.public_text = public_text

    async def search(self, request: web.Request) -> web.StreamResponse:
        """The search boxes' GET form: a ticket number, any case, spaces around it → its page."""
        asked = request.query.get("id", "").strip()
        if not asked:
            return self._missing(request, 200, None, "")
        public_id = ticket_ids.parse(asked)
        if public_id is None:
            return self._missing(request, 400, MALFORMED.format(text=ticket_ids.shown(asked),
                                                               example=ticket_ids.EXAMPLE), asked)
        raise web.HTTPFound(path(public_id))

    async def ticket(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        as_json = name.lower().endswith(".json")
        raw = name[:-5] if as_json else name
        public_id = ticket_ids.parse(raw)
        if public_id is None:
            reason = MALFORMED.format(text=ticket_ids.shown(raw), example=ticket_ids.EXAMPLE)
            return self._missing(request, 404, reason, raw, as_json)
        if raw != public_id:  # one address per ticket: jkt-2026-000001 → JKT-2026-000001
            raise web.HTTPMovedPermanently(path(public_id) + (".json" if as_json else ""))
        found = await asyncio.to_thread(self._view, public_id)
        if found is None:
            return self._missing(request, 404, NOT_PUBLIC.format(ticket=public_id), public_id, as_json)
        if as_json:
            return web.json_response(asdict(found))
        return public.render("public_ticket.html", t=found, config=self.config, asked=public_id)

    async def photo(self, request: web.Request) -> web.StreamResponse:
        which = request.match_info["which"]
        if not self.config.public_photos:
            raise web.HTTPNotFound(text="this city does not publish report photos")
        if which not in ("report", "result"):
            raise web.HTTPNotFound(text="photos are 'report' (the citizen's) or 'result' (the officer's)")
        public_id = ticket_ids.parse(request.match_info["public_id"])
        if public_id is None:
            raise web.HTTPNotFound(text=f"not a ticket number (e.g. {ticket_ids.EXAMPLE})")
        ref = await asyncio.to_thread(self._photo_ref, public_id, which)
        return await self.photos.respond(ref)

    def _view(self, public_id: str) -> TicketView | None:
        with self.sessions() as session:
            ticket = public_ticket.find(session, public_id)
            if ticket is None:
                return None
            return public_ticket.view(session, ticket, self.public_text, self.config.public_photos)

    def _photo_ref(self, public_id: str, which: str) -> str | None:
        with self.sessions() as session:
            return public_ticket.photo_ref(session, public_id, which)

    def _missing(self, request: web.Request, status: int, reason: str | None, asked: str,
                 as_json: bool = False) -> web.Response:
        """The search page, with why nothing is shown (the not-found and malformed answers are this page too)."""
        if reason is not None:
            refused(request, status, reason)
        if as_json:
            return web.json_response({"error": reason}, status=status)
        response = public.render("public_ticket.html", t=None, reason=reason, asked=asked, config=self.config,
                                 example=ticket_ids.EXAMPLE)
        response.set_status(status)
        return response

