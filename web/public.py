"""The public view: a map of reports and how fast each area responds, with no personal data.

Served without a login: `/` (the page), `/public/tickets.geojson` (reports as points), `/public/areas.geojson`
(kecamatan outlines from the offline gazetteer, so the map means something without map tiles) and
`/public/stats.json`. Only what web/privacy.py allows of a report's text leaves; names, chat ids, phones,
emails and photos (unless the city allows them) never do.
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
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from nlp.gazetteer import gazetteer
from router import context
from router import clock, routing
from store import ops
from store.models import Ticket
from web import params, stats
from web.media import Photos, servable
from web.privacy import redact

HERE = Path(__file__).parent
MAX_POINTS = 5000  # the map's newest reports; more would make the page slow on a phone
TEXT_CHARS = 280

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))


@dataclass(frozen=True)
class Config:
    """The public view's settings (config.yaml `web`)."""

    tile_url: str = ""  # "" : no tiles, the gazetteer's outlines only
    tile_attribution: str = ""
    days: int = 30
    min_count: int = 10  # areas with fewer reports are listed, not ranked
    public_photos: bool = False


def setup(app: web.Application, sessions: sessionmaker[Session], config: Config, photos: Photos | None = None) -> None:
    """Add the public routes to `app`."""
    view = _Public(sessions, config, photos or Photos(sessions, max_bytes=10 * 1024 * 1024))
    app.router.add_get("/", view.page)
    app.router.add_get("/public/photos/{public_id}", view.photo)
    app.router.add_get("/public/tickets.geojson", view.tickets)
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
        summary = await asyncio.to_thread(self._stats)
        return render("public.html", config=self.config, days=self.config.days, bounds=city_bounds(),
                      updated=clock.show(datetime.now(timezone.utc)), **summary)

    async def tickets(self, request: web.Request) -> web.Response:
        try:
            days = min(max(int(request.query.get("days", self.config.days)), 1), 365)
        except ValueError:
            raise web.HTTPBadRequest(text="days must be a whole number") from None
        category = request.query.get("category") or None
        features = await asyncio.to_thread(self._features, days, category)
        return web.json_response({"type": "FeatureCollection", "features": features},
                                 content_type="application/geo+json")

    async def areas(self, request: web.Request) -> web.Response:
        return web.Response(body=_outlines(), content_type="application/geo+json")

    async def stats_json(self, request: web.Request) -> web.Response:
        return web.json_response(await asyncio.to_thread(self._stats, True))

    def _features(self, days: int, category: str | None) -> list[dict[str, Any]]:
        since = datetime.now(timezone.utc) - timedelta(days=days)
        stmt = (select(Ticket.public_id, Ticket.category, Ticket.status, Ticket.text, Ticket.lat, Ticket.lon,
                       Ticket.kelurahan_kode, Ticket.kecamatan_kode, Ticket.agency, Ticket.created_at,
                       Ticket.photo_file_id)
                .where(Ticket.created_at >= since, Ticket.lat.is_not(None), Ticket.category.is_not(None),
                       Ticket.category != "not_report", Ticket.status != "duplicate")
                .order_by(Ticket.created_at.desc()).limit(MAX_POINTS))
        if category:
            stmt = stmt.where(Ticket.category == category)
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
                                 "agency": routing.agency_name(r.agency),
                                 "text": redact(r.text)[:TEXT_CHARS], "photo": photo}})
        return features

    def _stats(self, as_json: bool = False) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        since = now - timedelta(days=self.config.days)
        with self.sessions() as session:
            kecamatan = stats.area_stats(session, "kecamatan", since, now, self.config.min_count, now=now)
            kelurahan = stats.area_stats(session, "kelurahan", since, now, self.config.min_count, now=now)
            trends = stats.trending(session, now)
        labels = {t.category: context.taxonomy().label(t.category, "id") for t in trends}
        if as_json:
            return {"since": clock.iso(since), "min_count": self.config.min_count,
                    "kecamatan": [asdict(s) for s in kecamatan], "kelurahan": [asdict(s) for s in kelurahan],
                    "trending": [{**asdict(t), "label": labels[t.category]} for t in trends]}
        return {"kecamatan": kecamatan, "kelurahan": kelurahan[:20], "trending": trends, "labels": labels}


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
