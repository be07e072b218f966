"""SLA timers: per-category response and resolution targets, the clock that runs while officers hold a ticket,
and the checks scheduled for when a step falls due (router/sla.py runs them).

The clock starts when a ticket goes to officers and runs only while officers hold it (open, assigned,
in_progress, reopened); it pauses while the ticket waits for the citizen.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from rq import Queue, get_current_job
from sqlalchemy import select

from ingest import jobs
from ingest.jobs import CROP_QUEUE
from router import context
from store import db
from store.models import Ticket, utcnow

log = logging.getLogger(__name__)

RUNNING = frozenset({"open", "assigned", "taken", "in_progress", "reopened"})


def _now() -> datetime:
    return utcnow()  # one place for tests to move the clock


def rule(category: str | None) -> dict[str, float]:
    """The category's response_hours and resolution_hours."""
    rules = context.config().sla
    return rules.get(category or "", rules["default"])


def elapsed(ticket: Ticket, now: datetime) -> float:
    """Seconds on the ticket's SLA clock at `now`."""
    if ticket.sla_started_at is None:
        return 0.0
    end = ticket.sla_paused_at or now
    return max(0.0, (end - ticket.sla_started_at).total_seconds() - ticket.sla_paused_seconds)


def next_step(ticket: Ticket) -> tuple[int, float] | None:
    """(escalation level, clock seconds when it falls due) of the ticket's next SLA step; None when done."""
    r = rule(ticket.category)
    steps = [(1, r["response_hours"] * 3600), (2, r["resolution_hours"] * 3600), (3, 2 * r["resolution_hours"] * 3600)]
    for level, due in steps:
        if level <= ticket.sla_level:
            continue
        if level == 1 and ticket.first_response_at is not None:
            continue  # an officer answered: the response target is met (or its breach already handled)
        return level, due
    return None


def on_change(ticket: Ticket, before: str, to: str, now: datetime) -> None:
    """Keep the clock in step with a status change (called by router.lifecycle)."""
    if to in ("assigned", "taken") and ticket.sla_started_at is None:
        ticket.sla_started_at = now
    if ticket.sla_started_at is None:
        return
    if before in RUNNING and to not in RUNNING and ticket.sla_paused_at is None:
        ticket.sla_paused_at = now
    elif to in RUNNING and ticket.sla_paused_at is not None:
        ticket.sla_paused_seconds += max(0.0, (now - ticket.sla_paused_at).total_seconds())
        ticket.sla_paused_at = None


def schedule(ticket_ids: list[int]) -> int:
    """Schedule each running ticket's next SLA check (after the caller's commit); → checks scheduled."""
    if not ticket_ids:
        return 0
    with db.session() as session:
        tickets = session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids), Ticket.status.in_(RUNNING),
                                                       Ticket.sla_started_at.is_not(None))).all()
        due = [(t.id, step, at) for t in tickets if (step := next_step(t)) is not None
               and (at := _due_at(t, _now())) is not None]
    queue = Queue(CROP_QUEUE, connection=context.redis())
    running = get_current_job()
    for ticket_id, (level, _), at in due:
        # One check per ticket, step and moment: scheduling the same again replaces it. A check must not
        # reuse its own id, or RQ deletes the new schedule with the finished job.
        job_id = f"crophub-sla-{ticket_id}-{level}-{int(at.timestamp())}"
        if running is not None and running.id == job_id:
            job_id += "-again"
        try:
            jobs.enqueue(queue, jobs.SLA, ticket_id, at=at, job_id=job_id, timeout=context.config().job_timeout)
        except Exception as exc:  # a lost check is found again by the next change to the ticket
            log.error("sla: could not schedule the check of ticket %d: %s", ticket_id, exc)
    return len(due)


def _due_at(ticket: Ticket, now: datetime) -> datetime | None:
    step = next_step(ticket)
    if step is None:
        return None
    return now + timedelta(seconds=max(0.0, step[1] - elapsed(ticket, now)))
