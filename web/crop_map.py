"""The officers' map under /crop/map: the queue's tickets (the same filters and views, through dashboard.filtered
and web/field.py) as points coloured by status over the kecamatan outlines, fed by /crop/tickets.geojson; each
popup links to the ticket's page. Officers are logged in, so the report's whole text is there (set as text by
crop_map.js). Supervisors also see the officers sharing a live location in chat, only while they share it
(/crop/officers.geojson: supervisors only; nothing of it is on any public page or API)."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from sqlalchemy import select

from router import clock
from store.models import Officer, OfficerPosition, Ticket
from web import auth, dashboard, field, labels
from web.public import Config, city_bounds, render

SUPERVISOR = "supervisor"  # the role that sees officers' live locations
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
    app.router.add_get("/crop/officers.geojson", view.officers)


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
            colours_json=json.dumps(STATUS_COLOURS), max_points=MAX_POINTS,
            officers=auth.user(request).role == SUPERVISOR, views=dashboard.views(filters), **dashboard.choices()))

    async def tickets(self, request: web.Request) -> web.Response:
        features = await asyncio.to_thread(self._features, dashboard.filters_of(request), auth.user(request).officer_id)
        return web.json_response({"type": "FeatureCollection", "features": features},
                                 content_type="application/geo+json")

    def _features(self, filters: dict[str, str], officer_id: int) -> list[dict[str, Any]]:
        stmt = dashboard.filtered(filters).where(Ticket.lat.is_not(None), Ticket.lon.is_not(None))
        now = datetime.now(timezone.utc)
        with self.sessions() as session:
            officer = session.get(Officer, officer_id)
            return [feature(t, now) for t in field.tickets(session, stmt, filters["view"], officer, now, MAX_POINTS)]

    async def officers(self, request: web.Request) -> web.Response:
        if auth.user(request).role != SUPERVISOR:
            raise web.HTTPForbidden(text="officers' live locations are for supervisors")
        features = await asyncio.to_thread(self._officers)
        return web.json_response({"type": "FeatureCollection", "features": features},
                                 content_type="application/geo+json")

    def _officers(self) -> list[dict[str, Any]]:
        """Active officers sharing a live location now (its live period not over, not stopped)."""
        now = datetime.now(timezone.utc)
        stmt = (select(OfficerPosition, Officer).join(Officer, Officer.id == OfficerPosition.officer_id)
                .where(OfficerPosition.live_until > now, Officer.active.is_(True)).order_by(Officer.name))
        with self.sessions() as session:
            return [live_feature(p, o) for p, o in session.execute(stmt)]


def live_feature(position: OfficerPosition, officer: Officer) -> dict[str, Any]:
    """An officer's live position as a GeoJSON point with what its popup shows."""
    return {"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(position.lon, 6), round(position.lat, 6)]},
            "properties": {"name": officer.name, "role": officer.role, "accuracy_m": position.accuracy_m,
                           "at": clock.iso(position.at), "at_local": clock.show(position.at),
                           "until": clock.iso(position.live_until), "until_local": clock.show(position.live_until)}}
