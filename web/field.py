"""The officers' field view on the dashboard: the queue's views ("Tiket saya": held by the logged-in officer;
"Wilayah saya": what their areas and agencies cover; "Lewat batas": past their SLA target) and each ticket's SLA
countdown ("sisa 3 j 20 m", "lewat 1 j 5 m"), computed here on the SLA clock of router/timers.py and counted
on in the page by web/static/countdown.js."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import ColumnElement, Select, and_, false, or_, true
from sqlalchemy.orm import Session

from router import clock, context, routing, timers
from store.models import Officer, Ticket

# view code → its tab's words; "" is the whole queue.
VIEWS = {"": "Semua", "mine": "Tiket saya", "area": "Wilayah saya", "overdue": "Lewat batas"}
# A ticket in these statuses is done with (or never was officers'): no countdown.
FINISHED = frozenset({"resolved", "closed", "rejected", "duplicate"})
TARGETS = {"response": "respons pertama", "resolution": "penyelesaian"}


@dataclass(frozen=True)
class Countdown:
    """A ticket's SLA countdown as the dashboard shows it."""

    text: str  # "sisa 3 j 20 m", "lewat 1 j 5 m"; "dijeda, sisa …" while the ticket waits for the citizen
    target: str  # which target it counts to, in words: the first response, else the resolution
    late: bool
    due_iso: str | None  # the moment it falls due (the city's offset) while the clock runs; None while paused
    seconds: float  # left (negative: late)


def span(seconds: float) -> str:
    """A duration as officers read it: "2 hr 3 j", "3 j 20 m", "5 m" (whole minutes, rounded down)."""
    minutes = int(abs(seconds) // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} hr {hours} j"
    return f"{hours} j {mins} m" if hours else f"{mins} m"


def target(ticket: Ticket) -> tuple[str, float]:
    """The target the ticket's clock counts to now: (response | resolution, its clock seconds)."""
    rule = timers.rule(ticket.category)
    if ticket.first_response_at is None:
        return "response", rule["response_hours"] * 3600
    return "resolution", rule["resolution_hours"] * 3600


def countdown(ticket: Ticket, now: datetime) -> Countdown | None:
    """The ticket's SLA countdown at `now`; None before the clock starts (nobody has it yet) or once finished."""
    if ticket.sla_started_at is None or ticket.status in FINISHED:
        return None
    which, due = target(ticket)
    left = due - timers.elapsed(ticket, now)
    late = left <= 0
    words = ("lewat " if late else "sisa ") + span(left)
    paused = ticket.sla_paused_at is not None
    # Whole seconds: the page's script parses the moment, and counts in minutes anyway.
    due_at = (now + timedelta(seconds=left)).replace(microsecond=0)
    return Countdown(f"dijeda, {words}" if paused else words, TARGETS[which], late,
                     None if paused else clock.iso(due_at), left)


def narrowed(stmt: Select[Ticket], view: str, officer: Officer | None, now: datetime) -> Select[Ticket]:
    """The queue's query narrowed to a view (for "overdue", to the tickets that may be late: `overdue` decides)."""
    if view == "mine":
        return stmt.where(Ticket.assigned_officer_id == (officer.id if officer else -1))
    if view == "area":
        return stmt.where(covered(officer))
    if view == "overdue":
        return stmt.where(Ticket.status.in_(timers.RUNNING), Ticket.sla_started_at.is_not(None),
                          Ticket.sla_paused_at.is_(None), _maybe_late(now))
    return stmt


def overdue(tickets: Iterable[Ticket], now: datetime, limit: int) -> list[Ticket]:
    """Those of `tickets` past their target at `now`, the latest first, at most `limit`."""
    late = [(c.seconds, t) for t in tickets if (c := countdown(t, now)) is not None and c.late]
    return [t for _, t in sorted(late, key=lambda st: st[0])[:limit]]


def tickets(session: Session, stmt: Select[Ticket], view: str, officer: Officer | None, now: datetime,
            limit: int) -> list[Ticket]:
    """The tickets of the queue's query in a view, at most `limit`."""
    stmt = narrowed(stmt, view, officer, now)
    if view == "overdue":
        return overdue(session.scalars(stmt), now, limit)
    return list(session.scalars(stmt.limit(limit)))


def covered(officer: Officer | None) -> ColumnElement[bool]:
    """Tickets the officer covers, as routing.may_act decides: in their areas and of their agencies (a scope left
    empty is no limit when the other is set); a supervisor covers the whole city."""
    if officer is None:
        return false()
    if officer.role == "supervisor":
        return true()
    if not officer.areas and not officer.agencies:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if officer.areas:
        conditions.append(or_(*(in_area(code) for code in officer.areas)))
    if officer.agencies:
        # A ticket filed before routing named agencies belongs to the one its category maps to now.
        mapped = [c for c in context.taxonomy().categories if routing.agency_for(c) in officer.agencies]
        conditions.append(or_(Ticket.agency.in_(officer.agencies),
                              and_(Ticket.agency.is_(None), Ticket.category.in_(mapped))))
    return and_(*conditions)


def in_area(code: str) -> ColumnElement[bool]:
    """Tickets inside a kota, kecamatan or kelurahan code."""
    place = or_(Ticket.kelurahan_kode == code, Ticket.kecamatan_kode == code, Ticket.kab_kota_kode == code,
                Ticket.kelurahan_kode.startswith(code + "."))
    # HD: a ticket handed to an area (router/handoff.py) is that area's, as routing.in_area reads it
    held = or_(Ticket.holder_area == code, Ticket.holder_area.startswith(code + "."))
    return or_(and_(Ticket.holder_area.is_not(None), held), and_(Ticket.holder_area.is_(None), place))


def _maybe_late(now: datetime) -> ColumnElement[bool]:
    """Tickets whose clock started before their target's length ago: the only ones that can be late (time paused
    earlier may still put them within it; `overdue` counts exactly)."""
    rules = context.config().sla
    listed = [c for c in rules if c != "default"]

    def started_before(rule: dict[str, float]) -> ColumnElement[bool]:
        return or_(and_(Ticket.first_response_at.is_(None),
                        Ticket.sla_started_at <= now - timedelta(hours=rule["response_hours"])),
                   and_(Ticket.first_response_at.is_not(None),
                        Ticket.sla_started_at <= now - timedelta(hours=rule["resolution_hours"])))

    per_category = [and_(Ticket.category == c, started_before(rules[c])) for c in listed]
    others = and_(or_(Ticket.category.is_(None), Ticket.category.not_in(listed)) if listed else true(),
                  started_before(rules["default"]))
    return or_(*per_category, others)
