"""Open311 GeoReport v2 under /open311/v2/: services, requests (read, and filed through the same pipeline as
every channel), tokens; JSON and XML; errors in the spec's format. Nothing personal is ever shown.

Spec: http://wiki.open311.org/GeoReport_v2/. A POST is answered with a token (the pipeline files the ticket a
moment later, in a worker); GET tokens/{token} gives its service_request_id once it is filed.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from xml.etree import ElementTree as ET

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bots.open311 import parse as open311_parse
from bots.open311.parse import CHANNEL, MAX_DESCRIPTION
from ingest.intake import Batch, Intake
from nlp.gazetteer import gazetteer
from nlp.geocode import outside_city
from router import context, duplicates, routing, ticket_ids
from store.models import InboundMessage, Ticket, TicketEvent
from web import errors, params, public_filters, stats
from web.privacy import redact
from web.media import servable
from web.public import public_photo_path

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
CLOSED = tuple(sorted(stats.CLOSED))  # statuses officers are done with: "closed" in GeoReport's two states
# What each status means to the public, as status_notes when no officer wrote a note.
NOTES = {"needs_info": "waiting for the reporter's details", "open": "waiting for an officer",
         "assigned": "with the officers", "in_progress": "being worked on", "reopened": "reopened",
         "resolved": "resolved by an officer", "closed": "closed", "rejected": "rejected",
         "duplicate": "a duplicate of another request"}
TOKEN = re.compile(r"[0-9a-f]{32}")  # what post() answers: the request's key


@dataclass(frozen=True)
class Config:
    """The Open311 settings (config.yaml `web.open311`), with the API keys read from the environment."""

    jurisdiction_id: str
    api_keys: dict[str, str]  # key → the client's name
    max_requests: int = 1000
    default_days: int = 90
    public_photos: bool = False


class ApiError(Exception):
    """An error answered in the spec's format."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def setup(app: web.Application, sessions: sessionmaker[Session], intake: Intake | None, config: Config) -> None:
    """Add the GeoReport v2 routes to `app` (POST only when there is an intake to file through)."""
    api = _Api(sessions, intake, config)
    fmt = r"{fmt:json|xml}"
    app.router.add_get(f"{PREFIX}/services.{fmt}", api.wrap(api.services))
    app.router.add_get(f"{PREFIX}/services/{{code}}.{fmt}", api.wrap(api.service))
    app.router.add_get(f"{PREFIX}/requests.{fmt}", api.wrap(api.requests))
    app.router.add_get(f"{PREFIX}/requests/{{id}}.{fmt}", api.wrap(api.request))
    app.router.add_get(f"{PREFIX}/tokens/{{token}}.{fmt}", api.wrap(api.token))
    app.router.add_post(f"{PREFIX}/requests.{fmt}", api.wrap(api.post))


class _Api:
    def __init__(self, sessions: sessionmaker[Session], intake: Intake | None, config: Config) -> None:
        self.sessions = sessions
        self.intake = intake
        self.config = config

    def wrap(self, handler: Callable[..., Any]) -> Callable[[web.Request], Any]:
        """Check the jurisdiction, run the handler, and write its answer (or error) as JSON or XML."""

        async def route(request: web.Request) -> web.Response:
            fmt = request.match_info["fmt"]
            try:
                problem = errors.url_problem(request)
                if problem is not None:
                    raise ApiError(400, problem)
                jurisdiction = request.query.get("jurisdiction_id")
                if jurisdiction is not None and jurisdiction != self.config.jurisdiction_id:
                    raise ApiError(404, f"jurisdiction_id {_shown(jurisdiction)} is not served here")
                status, root, items = await handler(request)
                return _render(fmt, status, root, items)
            except ApiError as exc:
                return _refuse(request, fmt, exc.status, exc.description)
            except errors.BadRequest as exc:
                return _refuse(request, fmt, 400, str(exc))
            except web.HTTPError as exc:  # 413 over the body limit, from aiohttp while reading it
                return _refuse(request, fmt, exc.status, exc.text or exc.reason)
            except Exception as exc:  # an answer in the spec's format, never a stack trace
                if errors.from_body(exc):
                    return _refuse(request, fmt, 400, f"the body is not well-formed: {exc}")
                log.exception("open311: %s %s failed", request.method, request.path)
                return _render(fmt, 500, "errors", [{"code": 500, "description": "internal error"}])

        return errors.own_format(route)

    # --- services ------------------------------------------------------------------------------

    async def services(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        return 200, "services", [_service(name) for name in _codes()]

    async def service(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        code = request.match_info["code"]
        if code not in _codes():
            raise ApiError(404, f"service_code {_shown(code)} is not a service here")
        # No service asks for extra attributes (metadata false): the definition is empty, as the spec allows.
        return 200, "service_definition", [{"service_code": code, "attributes": []}]

    # --- reading requests ----------------------------------------------------------------------

    async def requests(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        q = request.query
        ids = _split(q.get("service_request_id"))
        if any(ticket_ids.parse(i) is None for i in ids):  # nothing else can match: no lookup
            raise ApiError(400, f"service_request_id takes request ids such as {ticket_ids.EXAMPLE}")
        codes = _split(q.get("service_code"))
        statuses = _split(q.get("status"))
        if any(s not in ("open", "closed") for s in statuses):
            raise ApiError(400, "status must be open or closed")
        unknown = [c for c in codes if c not in _codes()]
        if unknown:
            raise ApiError(400, f"unknown service_code: {', '.join(_shown(c) for c in unknown[:10])}")
        given_end = params.date(q.get("end_date"), "end_date")
        start = params.date(q.get("start_date"), "start_date")
        if start is not None and given_end is not None and start > given_end:
            raise ApiError(400, "start_date is after end_date")
        span = timedelta(days=self.config.default_days)
        # The spec's defaults: the last `span` days; a range may not span more than that.
        end = given_end or (start + span if start is not None else datetime.now(timezone.utc))
        start = start or end - span
        if end - start > span:
            raise ApiError(400, f"start_date and end_date may not span more than {self.config.default_days} days")
        rows = await asyncio.to_thread(self._find, ids, codes, statuses, start, end)
        return 200, "service_requests", _absolute(rows, request)

    async def request(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        public_id = ticket_ids.parse(request.match_info["id"])
        rows = await asyncio.to_thread(self._find, [public_id], [], [], None, None) if public_id else []
        if not rows:
            raise ApiError(404, f"service_request_id {_shown(request.match_info['id'])} not found")
        return 200, "service_requests", _absolute(rows, request)

    def _find(self, ids: list[str], codes: list[str], statuses: list[str], start: datetime | None,
              end: datetime | None) -> list[dict[str, Any]]:
        # HB (issue 20, 7b): what only the Waze feed reported stays off public lists (Waze's terms).
        stmt = select(Ticket).where(Ticket.category.is_not(None), Ticket.category != "not_report",
                                    ~public_filters.waze_feed_only())
        if ids:
            stmt = stmt.where(Ticket.public_id.in_([i.upper() for i in ids]))
        if codes:
            stmt = stmt.where(Ticket.category.in_(codes))
        if statuses == ["open"]:
            stmt = stmt.where(Ticket.status.not_in(CLOSED))
        elif statuses == ["closed"]:
            stmt = stmt.where(Ticket.status.in_(CLOSED))
        if start is not None and not ids:  # the date window is the default listing's, not a lookup by id
            stmt = stmt.where(Ticket.created_at >= start)
        if end is not None and not ids:
            stmt = stmt.where(Ticket.created_at <= end)
        stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(self.config.max_requests)
        with self.sessions() as session:
            tickets = list(session.scalars(stmt))
            notes = _last_notes(session, [t.id for t in tickets])
            return [self._public(t, notes.get(t.id)) for t in tickets]

    def _public(self, ticket: Ticket, note: str | None) -> dict[str, Any]:
        """A ticket as GeoReport shows it: what, where, when and how far along; nobody's name or address."""
        photo = ticket.photo_file_id if self.config.public_photos and servable(ticket.photo_file_id) else None
        return {
            "service_request_id": ticket.public_id,
            "status": "closed" if ticket.status in CLOSED else "open",
            "status_notes": redact(note) if note else NOTES.get(ticket.status, ticket.status),
            "service_name": context.taxonomy().label(ticket.category, "id"),
            "service_code": ticket.category,
            "description": redact(ticket.text)[:MAX_DESCRIPTION] or None,
            "agency_responsible": routing.agency_name(ticket.agency),
            "service_notice": None,
            "requested_datetime": _iso(ticket.created_at),
            "updated_datetime": _iso(ticket.updated_at),
            "expected_datetime": None,
            "address": _area(ticket),
            "address_id": ticket.kelurahan_kode or ticket.kecamatan_kode or ticket.kab_kota_kode,
            "zipcode": None,
            "lat": round(ticket.lat, 5) if ticket.lat is not None else None,
            "long": round(ticket.lon, 5) if ticket.lon is not None else None,
            # A tweet's photo is a public link already; any other is served by the public page (web/public.py),
            # made an absolute URL by the handler.
            "media_url": (photo if photo.startswith("https://") else public_photo_path(ticket.public_id or ""))
            if photo else None,
        }

    # --- filing requests -----------------------------------------------------------------------

    async def post(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        if self.intake is None:
            raise ApiError(503, "this server does not accept requests")
        form = await _form(request)
        client = self._client(form.get("api_key", ""))
        try:
            code = open311_parse.service_code(form)
            if code not in _codes():
                raise ApiError(404, f"service_code {_shown(code)} is not a service here")
            location = open311_parse.location(form)
            if location is not None:
                # A point outside the city has no unit to act on it: refused now, not left waiting forever.
                margin = context.config().boundary_margin_m
                if await asyncio.to_thread(outside_city, location.lat, location.lon, margin):
                    raise ApiError(400, f"lat/long is outside DKI Jakarta's area (more than {margin:,.0f} m "
                                        "beyond its boundary)")
            msg = open311_parse.parse(form, client, datetime.now(timezone.utc), _named_area(form.get("address_id", "")))
        except open311_parse.Invalid as exc:
            raise ApiError(400, str(exc)) from None
        await asyncio.to_thread(self.intake.accept, Batch([msg]))
        notice = "Laporan diterima dan sedang diproses; nomor tiketnya ada di tokens/{token}."
        key = msg.key
        # HC (issue 20): Open311 cannot be asked "support the report nearby?": the request is filed, and the
        # answer names the open request of the same service it may duplicate (by lat/long; by address, the
        # token's answer names it once the request is filed).
        near = await asyncio.to_thread(self._nearby, code, location.lat, location.lon) if location else None
        if near:
            notice += f" Mungkin sama dengan laporan {near} di dekatnya."
        return 201, "service_requests", [{"token": key, "service_notice": notice.format(token=key),
                                          "account_id": None, "duplicate_of": near}]

    def _nearby(self, code: str, lat: float, lon: float) -> str | None:
        """The open request of service `code` within its duplicate radius of the point, if any."""
        with self.sessions() as session:
            found = duplicates.nearest(session, code, lat, lon, "point")
            return found[0].public_id if found else None

    def _client(self, key: str) -> str:
        for known, name in self.config.api_keys.items():
            if hmac.compare_digest(known.encode(), key.encode()):
                return name
        raise ApiError(403, "api_key is missing or not valid")

    async def token(self, request: web.Request) -> tuple[int, str, list[dict[str, Any]]]:
        token = request.match_info["token"]
        # Checked by its shape first: a NUL or 3,000 characters never reach the database.
        found = await asyncio.to_thread(self._token, token) if TOKEN.fullmatch(token) else None
        if found is None:
            raise ApiError(404, f"token {_shown(token)} not found")
        public_id, near = found
        return 200, "service_requests", [{"service_request_id": public_id or None, "token": token,
                                          "duplicate_of": near}]

    def _token(self, token: str) -> tuple[str, str | None] | None:
        """('', None) while the request waits for the pipeline; its public id once filed, with the request it may
        duplicate (HC, issue 20: the `nearby` event filing left); None for no such token."""
        with self.sessions() as session:
            inbound = session.scalar(select(InboundMessage.id).where(InboundMessage.channel == CHANNEL,
                                                                     InboundMessage.key == token))
            if inbound is None:
                return None
            public_id = session.scalar(select(Ticket.public_id).where(Ticket.inbound_id == inbound))
            if public_id is None:  # it joined a ticket filed before: the event it left there says which
                public_id = session.scalar(select(Ticket.public_id).join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
                                           .where(TicketEvent.inbound_id == inbound).limit(1))
            hint = session.scalar(select(TicketEvent.data).join(Ticket, TicketEvent.ticket_id == Ticket.id).where(
                Ticket.inbound_id == inbound, TicketEvent.kind == "nearby").limit(1))
            return public_id or "", str(hint["ticket"]) if hint and hint.get("ticket") else None


# --- helpers ---------------------------------------------------------------------------------------

def _codes() -> list[str]:
    return [name for name in context.taxonomy().categories if name != "not_report"]


def _service(code: str) -> dict[str, Any]:
    tax = context.taxonomy()
    return {"service_code": code, "service_name": tax.label(code, "id"), "description": tax.label(code, "en"),
            "metadata": False, "type": "realtime", "keywords": code.replace("_", " "),
            "group": routing.agency_name(routing.agency_for(code)) or ""}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _shown(value: str) -> str:
    """A client's value quoted in an error, cut short (an id of 5,000 characters is not echoed whole)."""
    return repr(ticket_ids.shown(value, 40))


def _refuse(request: web.Request, fmt: str, status: int, description: str) -> web.Response:
    errors.refused(request, status, description)
    return _render(fmt, status, "errors", [{"code": status, "description": description}])


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else None


def _area(ticket: Ticket) -> str | None:
    """The area's names (kelurahan, kecamatan, kota): public, unlike the street a citizen may live on."""
    gaz = gazetteer()
    names = [gaz.areas[c].nama for c in (ticket.kelurahan_kode, ticket.kecamatan_kode, ticket.kab_kota_kode)
             if c and c in gaz.areas]
    return ", ".join(names) or None


def _named_area(code: str) -> str:
    """An address_id that is a kelurahan or kecamatan code, as its name (the geocoder reads names)."""
    area = gazetteer().areas.get(code.strip())
    return f"Kel. {area.nama}" if area is not None and area.level == "kelurahan" else \
        (f"Kec. {area.nama}" if area is not None and area.level == "kecamatan" else "")


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type == "application/json":
        data = await errors.json_body(request)
        if not isinstance(data, dict):
            raise ApiError(400, "the body is not a JSON object")
        return errors.nul_free({str(k): str(v) for k, v in data.items() if v is not None})
    posted = await errors.form(request)
    return {k: v for k, v in posted.items() if isinstance(v, str)}


def _last_notes(session: Session, ticket_ids: list[int]) -> dict[int, str]:
    """Each ticket's latest status note (an officer's "in progress: ..." or a rejection reason)."""
    if not ticket_ids:
        return {}
    notes: dict[int, str] = {}
    stmt = (select(TicketEvent.ticket_id, TicketEvent.data).where(TicketEvent.ticket_id.in_(ticket_ids),
                                                                  TicketEvent.kind == "status")
            .order_by(TicketEvent.id))
    for ticket_id, data in session.execute(stmt):
        if data and data.get("note"):
            notes[ticket_id] = str(data["note"])
    return notes


def _render(fmt: str, status: int, root: str, items: list[dict[str, Any]]) -> web.Response:
    if fmt == "json":
        body = items[0] if root == "service_definition" else items
        return web.json_response(body, status=status)
    return web.Response(body=_xml(root, items), status=status, content_type="text/xml", charset="utf-8")


_ITEM = {"services": "service", "service_requests": "request", "errors": "error"}


def _xml(root: str, items: list[dict[str, Any]]) -> bytes:
    """The spec's XML: <services><service>…, <service_requests><request>…, <errors><error>…."""
    if root == "service_definition":
        top = ET.Element("service_definition")
        definition = items[0]
        ET.SubElement(top, "service_code").text = definition["service_code"]
        ET.SubElement(top, "attributes")
    else:
        top = ET.Element(root)
        for item in items:
            element = ET.SubElement(top, _ITEM[root])
            for key, value in item.items():
                child = ET.SubElement(element, key)
                if value is not None:
                    child.text = str(value).lower() if isinstance(value, bool) else str(value)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def _absolute(rows: list[dict[str, Any]], request: web.Request) -> list[dict[str, Any]]:
    """Photo links of this site made absolute, as the spec's media_url is (the host the client asked)."""
    origin = f"{request.scheme}://{request.host}"
    for row in rows:
        if (row.get("media_url") or "").startswith("/"):
            row["media_url"] = origin + row["media_url"]
    return rows
