"""The city's clock: times people read are shown in city.timezone and marked (WIB); APIs keep ISO 8601."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from router import context

MONTHS = {"id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
          "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")}


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone() -> ZoneInfo:
    """The city's time zone (city.timezone)."""
    return _zone(context.config().timezone)


def local(moment: datetime) -> datetime:
    """`moment` on the city's clock (a naive one is taken as UTC, as the store keeps it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone())


def show(moment: datetime | None, language: str = "id", date_only: bool = False) -> str:
    """A time as a person reads it: "6 Des 2026 14:05 WIB" ("-" for none)."""
    if moment is None:
        return "-"
    at = local(moment)
    day = f"{at.day} {MONTHS.get(language, MONTHS['id'])[at.month - 1]} {at.year}"
    return day if date_only else f"{day} {at:%H:%M} {at.tzname()}"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the city's offset, for APIs ("2026-12-06T14:05:00+07:00")."""
    return local(moment).isoformat() if moment is not None else None
