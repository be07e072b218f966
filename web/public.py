"""The public view: a map of reports and how fast each area responds, with no personal data.

Served without a login: `/` (the page), `/public/tickets.geojson` (reports as points) and `/public/tickets.json`
(the same reports as a list, newest first), both filtered as web/public_filters.py reads the query,
`/public/areas.geojson` (kecamatan outlines from the offline gazetteer, so the map means something without map
tiles) and `/public/stats.json` (rankings, trends, the top reporters who chose an alias). Only what
web/privacy.py allows of a report's text leaves; names, chat ids, phones, emails and photos (unless the city
allows them) never do. Waze alerts are counted, never shown (Waze's terms).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape
from shapely.geometry import mapping
from shapely.ops import unary_union
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from nlp.gazetteer import gazetteer
from router import context
from router import clock, routing
from store import ops
from store.models import Ticket
from web import params, public_filters, stats
from web.errors import BadRequest
from web.media import Photos, servable
from web.privacy import redact

HERE = Path(__file__).parent
MAX_POINTS = 5000  # the map's newest reports; more would make the page slow on a phone
TEXT_CHARS = 280
LIST_SIZE = 50  # reports a page of the list shows
MAX_LIST = 200

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


def decimal(value: float | None, places: int = 1) -> str:
    """A number as Indonesian writes it: a decimal comma ("2,5"); "–" for none."""
    return "–" if value is None else f"{value:.{places}f}".replace(".", ",")


templates.filters["desimal"] = decimal


@dataclass(frozen=True)
class Config:
    """The public view's settings (config.yaml `web`)."""

    tile_url: str = ""  # "" : no tiles, the gazetteer's outlines only
    tile_attribution: str = ""
    days: int = 30
    min_count: int = 10  # areas with fewer reports are listed, not ranked
    public_photos: bool = False
    trending_min: int = 3  # a place needs this many reports this week to be "trending"
    top_reporters: int = 10  # how many opted-in reporters (by alias) the page lists; 0: none


def setup(app: web.Application, sessions: sessionmaker[Session], config: Config, photos: Photos | None = None) -> None:
    """Add the public routes to `app`."""
    view = _Public(sessions, config, photos or Photos(sessions, max_bytes=10 * 1024 * 1024))
    app.router.add_get("/", view.page)
    app.router.add_get("/public/photos/{public_id}", view.photo)
    app.router.add_get("/public/tickets.geojson", view.tickets)
    app.router.add_get("/public/tickets.json", view.ticket_list)
    app.router.add_get("/public/areas.geojson", view.areas)
    app.router.add_get("/public/stats.json", view.stats_json)


def render(name: str, **values: Any) -> web.Response:
    """An HTML page from web/templates (every value escaped unless a template says otherwise)."""
    return web.Response(text=templates.get_template(name).render(**values), content_type="text/html", charset="utf-8")


def public_photo_path(public_id: str) -> str:
    """Where the public sees a report's photo (when web.open311.public_photos allows it)."""
    return f"/public/photos/{public_id}"


class _Public:
    def __init__(self, sessions: sessionmaker[Session], config: Config, photos: Photos) -> None:
        self.sessions = sessions
        self.config = config
        self.photos = photos

    async def photo(self, request: web.Request) -> web.StreamResponse:
        if not self.config.public_photos:
            raise web.HTTPNotFound(text="this city does not publish report photos")
        ref = await asyncio.to_thread(self._photo_ref, params.ticket_id(request))
        return await self.photos.respond(ref)

    def _photo_ref(self, public_id: str) -> str | None:
        with self.sessions() as session:
            ticket = ops.ticket_by_public_id(session, public_id)
            # Only what the public map and API list: a report, not a duplicate or a non-report.
            if ticket is None or ticket.category in (None, "not_report") or ticket.status == "duplicate":
                return None
            return ticket.photo_file_id  # the citizen's "before" photo only

    async def page(self, request: web.Request) -> web.Response:
        filters = public_filters.parse(request.query, self.config.days)
        by = _rank_by(request)
        summary, listed = await asyncio.gather(asyncio.to_thread(self._stats, by),
                                               asyncio.to_thread(self._list, filters, LIST_SIZE, 0))
        return render("public.html", config=self.config, days=self.config.days, bounds=city_bounds(),
                      updated=clock.show(datetime.now(timezone.utc)), filters=filters, listed=listed,
                      categories=public_filters.category_choices(), kota=public_filters.kota_choices(),
                      periods=public_filters.PERIODS, rank_by=by,
                      area_bounds=public_filters.area_bounds(filters.area) if filters.area else "", **summary)

    async def tickets(self, request: web.Request) -> web.Response:
        filters = public_filters.parse(request.query, self.config.days)
        features = await asyncio.to_thread(self._features, filters)
        return web.json_response({"type": "FeatureCollection", "features": features},
                                 content_type="application/geo+json")

    async def ticket_list(self, request: web.Request) -> web.Response:
        filters = public_filters.parse(request.query, self.config.days)
        limit = _whole(request.query.get("limit"), "limit", LIST_SIZE, 1, MAX_LIST)
        offset = _whole(request.query.get("offset"), "offset", 0, 0, MAX_POINTS)
        return web.json_response(await asyncio.to_thread(self._list, filters, limit, offset))

    async def areas(self, request: web.Request) -> web.Response:
        return web.Response(body=_outlines(), content_type="application/geo+json")

    async def stats_json(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self._stats, _rank_by(request), True))

    def _features(self, filters: public_filters.Filters) -> list[dict[str, Any]]:
        where = public_filters.conditions(filters, datetime.now(timezone.utc))
        stmt = (select(Ticket.public_id, Ticket.category, Ticket.status, Ticket.text, Ticket.lat, Ticket.lon,
                       Ticket.kelurahan_kode, Ticket.kecamatan_kode, Ticket.agency, Ticket.created_at,
                       Ticket.photo_file_id, Ticket.channel)
                .where(*where, Ticket.lat.is_not(None))
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(MAX_POINTS))
        tax, gaz = context.taxonomy(), gazetteer()
        with self.sessions() as session:
            rows = session.execute(stmt).all()
        features = []
        for r in rows:
            photo = public_photo_path(r.public_id) if self.config.public_photos and servable(r.photo_file_id) else None
            features.append({"type": "Feature",
                             "geometry": {"type": "Point", "coordinates": [round(r.lon, 5), round(r.lat, 5)]},
                             "properties": {
                                 "id": r.public_id, "category": r.category, "label": tax.label(r.category, "id"),
                                 "status": "closed" if r.status in stats.CLOSED else "open",
                                 # ISO 8601 with the city's offset for programs; the popup's words in WIB.
                                 "created": clock.iso(r.created_at), "created_local": clock.show(r.created_at),
                                 "area": gaz.name_of(r.kelurahan_kode, r.kecamatan_kode) or None,
                                 "agency": routing.agency_name(r.agency), "url": ticket_path(r.public_id),
                                 # Waze's words stay off public pages (a citizen may have joined its ticket).
                                 "text": "" if r.channel == public_filters.WAZE else redact(r.text)[:TEXT_CHARS],
                                 "photo": photo}})
        return features

    def _list(self, filters: public_filters.Filters, limit: int, offset: int) -> dict[str, Any]:
        """A page of the reports the filters select, newest first (with or without a point), how many there are,
        and how many Waze alerts the same filters match (counted, not shown)."""
        now = datetime.now(timezone.utc)
        where = public_filters.conditions(filters, now)
        stmt = (select(Ticket.public_id, Ticket.category, Ticket.status, Ticket.kelurahan_kode, Ticket.kecamatan_kode,
                       Ticket.kab_kota_kode, Ticket.created_at)
                .where(*where).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit).offset(offset))
        count = select(func.count()).select_from(Ticket)
        with self.sessions() as session:
            rows = session.execute(stmt).all()
            total = session.scalar(count.where(*where)) or 0
            waze = session.scalar(count.where(*public_filters.conditions(filters, now, waze=True))) or 0
        tax, gaz = context.taxonomy(), gazetteer()
        tickets = [{"id": r.public_id, "category": r.category, "label": tax.label(r.category, "id"),
                    "status": "closed" if r.status in stats.CLOSED else "open",
                    "area": gaz.name_of(r.kelurahan_kode, r.kecamatan_kode, r.kab_kota_kode) or None,
                    "created": clock.iso(r.created_at), "created_local": clock.show(r.created_at),
                    "url": ticket_path(r.public_id)} for r in rows]
        bounds = public_filters.area_bounds(filters.area) if filters.area else None
        return {"filters": filters.as_dict(), "total": total, "offset": offset, "tickets": tickets, "waze": waze,
                "bounds": json.loads(bounds) if bounds else None}

    def _stats(self, by: str = "resolution", as_json: bool = False) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        since = now - timedelta(days=self.config.days)
        with self.sessions() as session:
            agencies, kecamatan, kelurahan = (
                stats.area_stats(session, level, since, now, self.config.min_count, now=now, by=by)
                for level in ("agency", "kecamatan", "kelurahan"))
            trends = stats.trending(session, now)
            places = stats.trending_places(session, now, "kecamatan", min_recent=self.config.trending_min)
            reporters = (stats.top_reporters(session, since, now, self.config.top_reporters)
                         if self.config.top_reporters else [])
        labels = {t.category: context.taxonomy().label(t.category, "id") for t in trends}
        if as_json:
            return {"since": clock.iso(since), "min_count": self.config.min_count, "rank_by": by,
                    "agencies": [asdict(s) for s in agencies],
                    "kecamatan": [asdict(s) for s in kecamatan], "kelurahan": [asdict(s) for s in kelurahan],
                    "trending": [{**asdict(t), "label": labels[t.category]} for t in trends],
                    "trending_places": [asdict(p) for p in places],
                    "top_reporters": [asdict(r) for r in reporters]}
        return {"agencies": agencies, "kecamatan": kecamatan, "kelurahan": kelurahan[:20], "trending": trends,
                "labels": labels, "places": places, "reporters": reporters}


def ticket_path(public_id: str) -> str:
    """Where the public reads one report (web/ticket_page.py)."""
    return f"/t/{public_id}"


def _rank_by(request: web.Request) -> str:
    by = request.query.get("rank") or "resolution"
    if by not in stats.RANK_BY:
        raise BadRequest(f"rank must be one of {', '.join(stats.RANK_BY)}")
    return by


def _whole(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and low <= int(raw) <= high):
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(raw)


@lru_cache(maxsize=1)
def city_bounds() -> str:
    """The view every map opens on, as Leaflet bounds JSON ([[south, west], [north, east]]): the city's main body,
    the largest piece of land its kelurahan make. Not the reports' extent (one far-off point would show Java), nor
    the islands 100 km offshore (Kepulauan Seribu: drawn, and a zoom out away)."""
    gaz = gazetteer()
    land = unary_union([gaz.shapes[a.kode] for a in gaz.kelurahan])
    main = max(getattr(land, "geoms", [land]), key=lambda piece: piece.area)
    west, south, east, north = main.bounds
    return json.dumps([[round(south, 4), round(west, 4)], [round(north, 4), round(east, 4)]])


@lru_cache(maxsize=1)
def _outlines() -> bytes:
    """Kecamatan outlines (kelurahan polygons joined and simplified to ~50 m), built once per process."""
    gaz = gazetteer()
    by_kecamatan: dict[str, list[Any]] = {}
    for area in gaz.kelurahan:
        by_kecamatan.setdefault(area.kode.rsplit(".", 1)[0], []).append(gaz.shapes[area.kode])
    features = []
    for code, shapes in sorted(by_kecamatan.items()):
        shape = unary_union(shapes).simplify(0.0005, preserve_topology=True)
        name = gaz.areas[code].nama if code in gaz.areas else code
        features.append({"type": "Feature", "geometry": mapping(shape), "properties": {"code": code, "name": name}})
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()
