"""Duplicate reports: a new report near an active ticket of the same category joins it."""
from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from router import context
from store.models import Ticket, utcnow

# Ticket statuses a new report may join: officers have not finished with them.
JOINABLE = ("open", "assigned", "taken", "in_progress", "reopened")
# Places precise enough to compare distances (an area's centre is not where anything happened).
PRECISE = ("point", "nominatim")
_EARTH_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_M * math.asin(math.sqrt(a))


def rule(category: str) -> dict[str, float]:
    """The category's radius_m and window_hours."""
    rules = context.config().duplicates
    return rules.get(category, rules["default"])


def find(session: Session, category: str | None, lat: float | None, lon: float | None,
         source: str | None) -> Ticket | None:
    """The nearest joinable ticket of `category` within its radius and window, if the place is precise."""
    if not category or category == "not_report" or lat is None or lon is None or source not in PRECISE:
        return None
    r = rule(category)
    dlat = r["radius_m"] / 111_320
    dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
    stmt = select(Ticket).where(
        Ticket.category == category, Ticket.status.in_(JOINABLE), Ticket.geocode_source.in_(PRECISE),
        Ticket.created_at >= utcnow() - timedelta(hours=r["window_hours"]),
        Ticket.lat.between(lat - dlat, lat + dlat), Ticket.lon.between(lon - dlon, lon + dlon),
    )
    near = [(distance_m(lat, lon, t.lat, t.lon), t.id, t) for t in session.scalars(stmt)
            if t.lat is not None and t.lon is not None]
    near = [n for n in near if n[0] <= r["radius_m"]]
    return min(near)[2] if near else None
