"""SLA: per-category response and resolution targets, checked by RQ jobs scheduled for when they fall due.

The clock starts when a ticket goes to officers and runs only while officers hold it (open, assigned,
in_progress, reopened); it pauses while the ticket waits for the citizen. Each breach reminds the
officer and escalates one step: lurah (no response in time), camat (not resolved in time), agency head
(not resolved in twice the time).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from rq import Queue, get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest import jobs
from ingest.jobs import CROP_QUEUE
from ingest.message import Address
from router import cards, context, replies, routing
from router.templates import render
from store import db, ops
from store import officers as roster
from store.models import Officer, Ticket, utcnow

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


def check_ticket(ticket_id: int) -> dict[str, Any]:
    """Job: take every SLA step of the ticket that has fallen due, then schedule the next check."""
    now = _now()
    with db.session() as session:
        ticket = session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.status not in RUNNING or ticket.sla_started_at is None:
            return {"escalated": 0}  # finished, or paused: the change that resumes it schedules again
        rows: list[dict[str, Any]] = []
        taken = 0
        while (step := next_step(ticket)) is not None and elapsed(ticket, now) >= step[1]:
            rows += escalate(session, ticket, step[0], now)
            taken += 1
        outbox_ids = replies.store(session, rows)
    replies.enqueue_send(outbox_ids)
    schedule([ticket_id])
    return {"escalated": taken}


def escalate(session: Session, ticket: Ticket, level: int, now: datetime) -> list[dict[str, Any]]:
    """Remind the ticket's officer and send it to escalation step `level`; audited; → outbox rows."""
    officers = roster.all_officers(session)
    holder = session.get(Officer, ticket.assigned_officer_id) if ticket.assigned_officer_id else None
    reminded = [holder] if holder is not None and holder.active else routing.responders(officers, ticket)
    targets = routing.escalation_targets(officers, ticket, level - 1)
    what = render("sla_response" if level == 1 else "sla_resolution", "id")
    hours = elapsed(ticket, now) / 3600
    bot = cards.officer_bot(ticket)
    rows = []
    for officer in reminded:
        prefix = render("sla_reminder", "id", what=what, hours=f"{hours:.1f}")
        rows.append(cards.card(ticket, Address(channel="telegram", chat_id=officer.telegram_id, bot=bot), prefix=prefix,
                              key=f"sla:{level}"))
    for officer in targets:
        prefix = render("sla_escalated", "id", what=what, hours=f"{hours:.1f}", role=officer.role)
        rows.append(cards.card(ticket, Address(channel="telegram", chat_id=officer.telegram_id, bot=bot), prefix=prefix,
                              key=f"sla:{level}"))
    if not targets:
        log.warning("sla: ticket %s breached (%s) but no %s covers it", ticket.public_id, what,
                    routing.ESCALATION[level - 1] if level <= len(routing.ESCALATION) else "officer")
    ticket.sla_level = level
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "sla_breach", "actor": "sla", "created_at": now,
                              "data": {"level": level, "hours": round(hours, 2), "reminded": [o.id for o in reminded],
                                       "escalated_to": [o.id for o in targets]}}])
    log.info("sla: ticket %s %s after %.1f h; escalated to %s", ticket.public_id, what, hours,
             ", ".join(o.name for o in targets) or "nobody")
    return rows
