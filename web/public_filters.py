"""The public map's and list's filters (category, status, kota or kecamatan, period), read from a URL's query one
way for the page and both endpoints; a value that cannot be one is refused with the reason (400). Also the
conditions every public listing shares: reports only (no non-reports, no merged duplicates) and no Waze alerts,
which Waze's terms keep off public maps and lists (they are counted instead). A Waze ticket a citizen joined is
that citizen's report too: it is shown, without Waze's words (as its public page, web/public_ticket.py)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Mapping
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, exists, not_, select

from router import areas, context
from store.models import Ticket, TicketReporter
from web import stats
from web.errors import BadRequest

STATUSES = ("open", "closed")
MAX_DAYS = 365
PERIODS = (1, 7, 30, 90, 365)  # the page's choices; any whole number of days up to MAX_DAYS is taken
WAZE = "waze"  # the Waze feed's channel (router/waze.py)


@dataclass(frozen=True)
class Filters:
    """What the public map and list show: reports of the last `days` days, narrowed by category, status
    (open | closed) and area (a kota or kecamatan code)."""

    days: int
    category: str | None = None
    status: str | None = None
    area: str | None = None

    def query(self) -> str:
        """The filters as a URL query (without "?"), the default days included."""
        values = {"category": self.category, "status": self.status, "area": self.area, "days": str(self.days)}
        return urlencode({k: v for k, v in values.items() if v})

    def as_dict(self) -> dict[str, Any]:
        """The filters as JSON values (None for "any")."""
        return {"category": self.category, "status": self.status, "area": self.area, "days": self.days}


def parse(query: Mapping[str, str], default_days: int) -> Filters:
    """The filters a request's query names; BadRequest naming the parameter when one is not valid."""
    raw_days = query.get("days") or ""
    if raw_days:
        if not raw_days.isascii() or not raw_days.isdigit() or len(raw_days) > 3:
            raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}")
        days = int(raw_days)
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest(f"days must be a whole number from 1 to {MAX_DAYS}")
    else:
        days = default_days
    category = query.get("category") or None
    if category is not None and category not in categories():
        raise BadRequest(f"category must be one of {', '.join(categories())}")
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise BadRequest("status must be open or closed")
    area = query.get("area") or None
    if area is not None and area not in _area_levels():
        raise BadRequest("area must be the code of a kota or kecamatan of Jakarta, e.g. 31.75 or 31.75.03")
    return Filters(days, category, status, area)


def categories() -> list[str]:
    """The categories a report can have (the taxonomy's, without "not a report")."""
    return [c for c in context.taxonomy().categories if c != stats.NOT_REPORT]


def conditions(filters: Filters, now: datetime, waze: bool = False) -> list[ColumnElement[bool]]:
    """The WHERE clauses of the public reports the filters select; with `waze`, the Waze alerts among them
    instead (to count, never to show)."""
    feed_only = waze_feed_only()
    where: list[ColumnElement[bool]] = [
        Ticket.created_at >= now - timedelta(days=filters.days), Ticket.category.is_not(None),
        Ticket.category != stats.NOT_REPORT, Ticket.status != "duplicate", feed_only if waze else not_(feed_only)]
    if filters.category:
        where.append(Ticket.category == filters.category)
    if filters.status == "open":
        where.append(Ticket.status.not_in(stats.CLOSED))
    elif filters.status == "closed":
        where.append(Ticket.status.in_(stats.CLOSED))
    if filters.area:
        column = Ticket.kab_kota_kode if _area_levels()[filters.area] == "kab_kota" else Ticket.kecamatan_kode
        where.append(column == filters.area)
    return where


def waze_feed_only() -> ColumnElement[bool]:
    """A ticket only the Waze feed reported (no citizen joined it): never listed in public, only counted."""
    return and_(Ticket.channel == WAZE,
                not_(exists(select(TicketReporter.ticket_id).where(TicketReporter.ticket_id == Ticket.id))))


def _area_levels() -> dict[str, str]:
    return areas.levels()


@dataclass(frozen=True)
class Choice:
    """One option of a select: its value and the words shown."""

    value: str
    label: str


@dataclass(frozen=True)
class Kota:
    """A kota and its kecamatan, as the area select groups them."""

    code: str
    name: str
    kecamatan: list[Choice]


@lru_cache(maxsize=1)
def kota_choices() -> list[Kota]:
    """Every kota with its kecamatan, by name, for the area select."""
    return [Kota(code, name, [Choice(*k) for k in kecamatan]) for code, name, kecamatan in areas.kota_tree()]


def category_choices() -> list[Choice]:
    """Every category with its Indonesian label, by label."""
    tax = context.taxonomy()
    return sorted((Choice(c, tax.label(c, "id")) for c in categories()), key=lambda c: c.label)


@lru_cache(maxsize=64)
def area_bounds(code: str) -> str | None:
    """A kota's or kecamatan's extent as Leaflet bounds JSON ([[south, west], [north, east]]); None if unknown."""
    found = areas.extent(code)
    if found is None:
        return None
    west, south, east, north = found
    return json.dumps([[south, west], [north, east]])
