"""The officers' map under /crop/map: the queue's tickets (the same filters, through dashboard.filtered) as
points coloured by status over the kecamatan outlines, fed by /crop/tickets.geojson; each popup links to the
ticket's page. Officers are logged in, so the report's whole text is there (set as text by crop_map.js)."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from router import clock
from store.models import Ticket
from web import auth, dashboard, labels
from web.public import Config, city_bounds, render

MAX_POINTS = 2000  # the newest matching tickets with a point; more would make the page slow
# One colour per lifecycle status: warm while officers still owe something, green when done, grey when not theirs.
STATUS_COLOURS = {"received": "#7f8c8d", "needs_info": "#8e44ad", "open": "#c0392b", "reopened": "#d81b60",
                  "assigned": "#e67e22", "taken": "#a04000", "in_progress": "#b7950b", "resolved": "#27ae60",
                  "closed": "#1e8449", "rejected": "#34495e", "duplicate": "#95a5a6"}


def setup(app: web.Application, sessions: sessionmaker[Session], config: Config) -> None:
    """Add /crop/map and /crop/tickets.geojson (behind the /crop login)."""
    view = _Map(sessions, config)
    app.router.add_get("/crop/map", view.page)
    app.router.add_get("/crop/tickets.geojson", view.tickets)


def feature(t: Ticket, now: datetime) -> dict[str, Any]:
    """A ticket as a GeoJSON point with what its popup shows."""
    if t.lat is None or t.lon is None:
        raise ValueError(f"ticket {t.public_id} has no point")  # the map's query keeps only placed tickets
    row = dashboard.row(t, now)
    props = {k: row[k] for k in ("id", "category", "status", "status_label", "area", "place", "agency", "age_h")}
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(t.lon, 6), round(t.lat, 6)]},
            "properties": {**props, "created": clock.iso(t.created_at), "created_local": clock.show(t.created_at),
                           "text": t.text or ""}}


class _Map:
    def __init__(self, sessions: sessionmaker[Session], config: Config) -> None:
        self.sessions = sessions
        self.config = config

    async def page(self, request: web.Request) -> web.Response:
        filters = dashboard.filters_of(request)
        query = dashboard.query_of(filters)
        return render("crop_map.html", **auth.context(
            request, filters=filters, query=query, config=self.config, bounds=city_bounds(),
            legend=[(labels.status_words(s), c) for s, c in STATUS_COLOURS.items()],
            colours_json=json.dumps(STATUS_COLOURS), max_points=MAX_POINTS, **dashboard.choices()))

    async def tickets(self, request: web.Request) -> web.Response:
        features = await asyncio.to_thread(self._features, dashboard.filters_of(request))
        return web.json_response({"type": "FeatureCollection", "features": features},
                                 content_type="application/geo+json")

    def _features(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        stmt = dashboard.filtered(filters).where(Ticket.lat.is_not(None), Ticket.lon.is_not(None)).limit(MAX_POINTS)
        now = datetime.now(timezone.utc)
        with self.sessions() as session:
            return [feature(t, now) for t in session.scalars(stmt)]
