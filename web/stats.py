"""Supervisors' and the public's statistics over tickets: per-area response and resolution times, SLA breaches,
rankings by each of them, trending categories and places, and the top reporters who chose a public alias. Pure
reads; medians and percentiles are computed here, not in SQL, so the figures are the same on SQLite and PostgreSQL."""
from __future__ import annotations

import csv
import io
import statistics
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlp.gazetteer import gazetteer
from router import routing, sla
from store.models import Citizen, Ticket, TicketReporter, utcnow
from store.models import PhotoCheck, TicketFlag  # HE: verified closure
from store.photo_checks import LABELS  # HE: verified closure

# Statuses officers (or the router) are done with: the public view and Open311 show them as "closed".
CLOSED = frozenset({"resolved", "closed", "rejected", "duplicate"})
# The column each level groups by.
LEVELS = {"kelurahan": Ticket.kelurahan_kode, "kecamatan": Ticket.kecamatan_kode, "agency": Ticket.agency}
NOT_REPORT = "not_report"
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection): text cells get a quote first.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AreaStats:
    """One kelurahan, kecamatan or agency's figures over a period; hours are None when nothing was measured."""

    level: str
    code: str
    name: str
    tickets: int
    open: int
    closed: int
    first_response_median_h: float | None
    first_response_p90_h: float | None
    resolution_median_h: float | None
    resolution_p90_h: float | None
    sla_breach_share: float | None
    rank: int | None


# What an area's rank may be by (the median hours to resolution or to the first response, or the SLA breach share),
# and the figures that break a tie, in order.
RANK_BY = {"resolution": ("resolution", "breaches", "response"), "response": ("response", "breaches", "resolution"),
           "breaches": ("breaches", "resolution", "response")}


@dataclass(frozen=True)
class Trend:
    """A category's tickets in the recent window and the window before it; change is the ratio of daily rates."""

    category: str
    recent: int
    before: int
    change: float | None


@dataclass(frozen=True)
class PlaceTrend:
    """A kecamatan or kelurahan's tickets in the recent window and the window before it (as Trend)."""

    level: str
    code: str
    name: str
    recent: int
    before: int
    change: float | None


@dataclass(frozen=True)
class Reporter:
    """A citizen who chose to be listed, by their public alias only, and the reports they made in a period."""

    alias: str
    reports: int


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _median_p90(values: list[float]) -> tuple[float | None, float | None]:
    """Median and 90th percentile; the inclusive method keeps p90 within the observed range on small samples."""
    if not values:
        return None, None
    if len(values) == 1:  # quantiles() needs two points before Python 3.13
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def _breached(row: Any, now: datetime) -> bool:
    """Whether the ticket missed its category's response or resolution target, counted from its creation."""
    rule = sla.rule(row.category)
    response_due = row.created_at + timedelta(hours=rule["response_hours"])
    resolution_due = row.created_at + timedelta(hours=rule["resolution_hours"])
    # A finished ticket without a timestamp (rejected, or closed by its feed) has nothing pending: only a
    # ticket officers still hold keeps running past a deadline it has not met.
    active = row.status not in CLOSED
    late_response = (row.first_response_at > response_due if row.first_response_at is not None
                     else active and now > response_due)
    late_resolution = (row.resolved_at > resolution_due if row.resolved_at is not None
                       else active and now > resolution_due)
    return late_response or late_resolution


def _name(level: str, code: str) -> str:
    if level == "agency":
        return routing.agency_name(code) or code
    area = gazetteer().areas.get(code)
    return area.nama if area is not None else code


def _rank_key(by: str) -> Any:
    """How areas are ordered for `by`: smaller is better, an area without the figure comes last, and ties go to the
    other figures, then the code."""
    def key(s: AreaStats) -> tuple[Any, ...]:
        figures = {"resolution": s.resolution_median_h, "response": s.first_response_median_h,
                   "breaches": s.sla_breach_share}
        return (*((figures[f] is None, figures[f] or 0.0) for f in RANK_BY[by]), s.code)
    return key


def area_stats(session: Session, level: str, since: datetime, until: datetime, min_count: int = 10,
               now: datetime | None = None, by: str = "resolution") -> list[AreaStats]:
    """Per-area figures for tickets created in [since, until): those ranked by `by` (RANK_BY) first, then the
    small ones by code."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    if by not in RANK_BY:
        raise ValueError(f"by must be one of {', '.join(RANK_BY)}, not {by!r}")
    now = now or utcnow()
    key = LEVELS[level]
    stmt = (select(key.label("code"), Ticket.category, Ticket.status, Ticket.created_at, Ticket.first_response_at,
                   Ticket.resolved_at)
            .where(Ticket.created_at >= since, Ticket.created_at < until, key.is_not(None),
                   Ticket.category.is_not(None), Ticket.category != NOT_REPORT))
    groups: dict[str, list[Any]] = {}
    for row in session.execute(stmt):
        groups.setdefault(row.code, []).append(row)

    found = []
    for code, rows in groups.items():
        # A duplicate was merged into another ticket: its clock is that ticket's, so it would count twice.
        timed = [r for r in rows if r.status != "duplicate"]
        responses = [_hours(r.created_at, r.first_response_at) for r in timed if r.first_response_at is not None]
        resolutions = [_hours(r.created_at, r.resolved_at) for r in timed if r.resolved_at is not None]
        closed = sum(r.status in CLOSED for r in rows)
        share = sum(_breached(r, now) for r in timed) / len(timed) if timed else None
        found.append(AreaStats(level, code, _name(level, code), len(rows), len(rows) - closed, closed,
                               *_median_p90(responses), *_median_p90(resolutions), share, None))

    # Small samples swing on one ticket, so they are shown but not ranked.
    big = sorted((s for s in found if s.tickets >= min_count), key=_rank_key(by))
    ranked = [replace(s, rank=rank) for rank, s in enumerate(big, start=1)]
    small = sorted((s for s in found if s.tickets < min_count), key=lambda s: s.code)
    return ranked + small


def _windows(session: Session, column: Any, now: datetime, recent_days: int,
             before_days: int) -> dict[str, tuple[int, int, float | None]]:
    """Tickets per value of `column` in the last `recent_days` and the `before_days` before them, and the ratio of
    their daily rates (None when there were none before); only values with recent tickets."""
    cut = now - timedelta(days=recent_days)
    start = cut - timedelta(days=before_days)
    stmt = (select(column.label("key"), Ticket.created_at)
            .where(Ticket.created_at >= start, Ticket.created_at < now, column.is_not(None),
                   Ticket.category.is_not(None), Ticket.category != NOT_REPORT))
    counts: dict[str, list[int]] = {}
    for row in session.execute(stmt):
        counts.setdefault(row.key, [0, 0])[0 if row.created_at >= cut else 1] += 1
    return {key: (recent, before, (recent / recent_days) / (before / before_days) if before else None)
            for key, (recent, before) in counts.items() if recent}


def _rising_first(recent: int, change: float | None, key: str) -> tuple[Any, ...]:
    # Something with nothing before has an unbounded rise: it comes first.
    return change is not None, -(change or 0.0), -recent, key


def trending(session: Session, now: datetime, recent_days: int = 7, before_days: int = 28,
             limit: int = 5) -> list[Trend]:
    """Categories whose daily rate in the last `recent_days` most exceeds their rate in the `before_days` before."""
    trends = [Trend(category, *counts)
              for category, counts in _windows(session, Ticket.category, now, recent_days, before_days).items()]
    trends.sort(key=lambda t: _rising_first(t.recent, t.change, t.category))
    return trends[:limit]


def trending_places(session: Session, now: datetime, level: str = "kecamatan", recent_days: int = 7,
                    before_days: int = 28, limit: int = 5, min_recent: int = 3) -> list[PlaceTrend]:
    """Kecamatan or kelurahan whose daily rate of reports rose most this week, as `trending` does for categories;
    a place with fewer than `min_recent` recent reports is left out (one report more is not a trend)."""
    if level not in ("kecamatan", "kelurahan"):
        raise ValueError(f"level must be kecamatan or kelurahan, not {level!r}")
    places = [PlaceTrend(level, code, _name(level, code), *counts)
              for code, counts in _windows(session, LEVELS[level], now, recent_days, before_days).items()
              if counts[0] >= min_recent]
    places.sort(key=lambda p: _rising_first(p.recent, p.change, p.code))
    return places[:limit]


def top_reporters(session: Session, since: datetime, until: datetime, limit: int = 10) -> list[Reporter]:
    """The citizens with a public alias who reported most in [since, until) (their own reports and those they
    joined), by alias only; nobody without an alias is counted or shown."""
    reports = func.count(TicketReporter.ticket_id)
    stmt = (select(Citizen.public_alias, reports)
            .join(TicketReporter, TicketReporter.citizen_id == Citizen.id)
            .join(Ticket, Ticket.id == TicketReporter.ticket_id)
            .where(Citizen.public_alias.is_not(None), TicketReporter.joined_at >= since,
                   TicketReporter.joined_at < until, Ticket.category.is_not(None), Ticket.category != NOT_REPORT)
            .group_by(Citizen.id, Citizen.public_alias)
            .order_by(reports.desc(), Citizen.public_alias).limit(limit))
    return [Reporter(str(alias), int(n)) for alias, n in session.execute(stmt)]


def category_counts(session: Session, since: datetime, until: datetime) -> dict[str, int]:
    """Tickets per category created in [since, until) (not_report left out), most first."""
    stmt = (select(Ticket.category, func.count()).where(
        Ticket.created_at >= since, Ticket.created_at < until, Ticket.category.is_not(None),
        Ticket.category != NOT_REPORT).group_by(Ticket.category))
    counts = {str(category): int(n) for category, n in session.execute(stmt)}
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _text_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def to_csv(rows: list[AreaStats]) -> str:
    """The rows as CSV with a header; hours to 0.1, shares to 0.001, missing figures empty (csv writes None so);
    a code or name that a spreadsheet would run as a formula starts with a quote."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f.name for f in fields(AreaStats)])
    for s in rows:
        hours = [None if h is None else round(h, 1) for h in (
            s.first_response_median_h, s.first_response_p90_h, s.resolution_median_h, s.resolution_p90_h)]
        share = None if s.sla_breach_share is None else round(s.sla_breach_share, 3)
        writer.writerow([s.level, _text_cell(s.code), _text_cell(s.name), s.tickets, s.open, s.closed, *hours,
                         share, s.rank])
    return out.getvalue()


# --- HE: verified closure (issue 20, part 6): tickets whose officer's "done" photo was flagged -------------------

@dataclass(frozen=True)
class FlagCounts:
    """Of the tickets created in a period: how many had a "done" photo checked, how many were flagged, and by reason
    (a ticket flagged for two reasons counts under both)."""

    checked: int
    flagged: int
    by_reason: dict[str, int]


def flag_counts(session: Session, since: datetime, until: datetime) -> FlagCounts:
    """The verified-closure figures for tickets created in [since, until)."""
    period = (Ticket.created_at >= since, Ticket.created_at < until)
    checked = session.scalar(select(func.count(func.distinct(PhotoCheck.ticket_id))).join(
        Ticket, Ticket.id == PhotoCheck.ticket_id).where(PhotoCheck.role == "resolution", *period)) or 0
    rows = session.execute(select(TicketFlag.code, func.count(func.distinct(TicketFlag.ticket_id))).join(
        Ticket, Ticket.id == TicketFlag.ticket_id).where(*period).group_by(TicketFlag.code)).all()
    flagged = session.scalar(select(func.count(func.distinct(TicketFlag.ticket_id))).join(
        Ticket, Ticket.id == TicketFlag.ticket_id).where(*period)) or 0
    by_reason = {LABELS.get(code, code): int(n) for code, n in rows}
    return FlagCounts(int(checked), int(flagged), dict(sorted(by_reason.items(), key=lambda i: (-i[1], i[0]))))
# --- end HE ---
