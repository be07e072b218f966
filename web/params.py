"""Values read from a request's URL, one way for every handler: dates within the years the code can do arithmetic
on, ticket ids by their shape, row ids within the database's bigint. A value that cannot be one is refused
before use (web/errors.BadRequest, or 404 for a path that names nothing) with a reason naming the parameter."""
from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from router import ticket_ids
from web.errors import BadRequest

# Dates a request may name. Year 1 with a +14:00 offset is before datetime's own year 1 in UTC (OverflowError);
# the upper bound leaves room for the longest window Open311 adds to a date (hub settings: 3,650 days).
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)
# A row id in a route: at most 18 digits, always below 2**63 (a 30-digit one overflowed the database's bigint).
ROW_ID = r"\d{1,18}"


def date(value: str | None, name: str) -> datetime | None:
    """The W3C date-time `value` (UTC when it names no offset) in UTC; None when absent; BadRequest otherwise."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} is not a W3C date-time (e.g. 2026-11-24T08:00:00+07:00)") from None
    try:
        utc = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise BadRequest(f"{name} out of range (years {EARLIEST.year} to {LATEST.year - 1})")
    return utc


def ticket_id(request: web.Request, key: str = "public_id") -> str:
    """The ticket id in the route's `key` (upper case); 404 when it cannot be one, without a lookup (the
    middleware in web/errors.py logs the refusal)."""
    raw = request.match_info[key]
    public_id = ticket_ids.parse(raw)
    if public_id is None:
        reason = f"no such ticket: {ticket_ids.shown(raw)!r} is not a ticket number (e.g. {ticket_ids.EXAMPLE})"
        raise web.HTTPNotFound(text=reason)
    return public_id
