"""SLA: the check job that takes each step of a ticket's SLA as it falls due (the targets, the clock and the
scheduling are router/timers.py's).

Each breach reminds the officer and escalates one step: lurah (no response in time), camat (not resolved in
time), agency head (not resolved in twice the time).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from router import cards, routing, timers, unit
from router.outcome import Outcome, Reply
from router.templates import render
from router.timers import elapsed, next_step
from router.timers import rule as rule  # web/stats.py reads a category's targets here
from store import db, ops
from store import officers as roster
from store.models import Officer, Ticket

log = logging.getLogger(__name__)


def check_ticket(ticket_id: int) -> dict[str, Any]:
    """Job: take every SLA step of the ticket that has fallen due, then schedule the next check."""
    now = timers._now()
    with db.session() as session:
        ticket = session.get(Ticket, ticket_id, with_for_update=True)
        if ticket is None or ticket.status not in timers.RUNNING or ticket.sla_started_at is None:
            return {"escalated": 0}  # finished, or paused: the change that resumes it schedules again
        replies: list[Reply] = []
        taken = 0
        while (step := next_step(ticket)) is not None and elapsed(ticket, now) >= step[1]:
            replies += escalate(session, ticket, step[0], now)
            taken += 1
        # The next check is scheduled even when nothing was due (a check that ran early, or a stale one).
        done = unit.commit(session, Outcome(tuple(replies), moved=frozenset({ticket_id})))
    unit.after_commit(done)
    return {"escalated": taken}


def escalate(session: Session, ticket: Ticket, level: int, now: datetime) -> list[Reply]:
    """Remind the ticket's officer and send it to escalation step `level`; audited; → the cards to send."""
    officers = roster.all_officers(session)
    holder = session.get(Officer, ticket.assigned_officer_id) if ticket.assigned_officer_id else None
    reminded = [holder] if holder is not None and holder.active else routing.responders(officers, ticket)
    targets = routing.escalation_targets(officers, ticket, level - 1)
    what = render("sla_response" if level == 1 else "sla_resolution", "id")
    hours = elapsed(ticket, now) / 3600
    replies = []
    for officer, key, values in [(o, "sla_reminder", {}) for o in reminded] + [
            (o, "sla_escalated", {"role": o.role}) for o in targets]:
        address = cards.officer_address(officer, ticket)
        if address is not None:  # an officer reachable on no channel is still counted as escalated to
            prefix = render(key, "id", what=what, hours=f"{hours:.1f}", **values)
            replies.append(cards.card(ticket, address, prefix=prefix, key=f"sla:{level}"))
    if not targets:
        log.warning("sla: ticket %s breached (%s) but no %s covers it", ticket.public_id, what,
                    routing.ESCALATION[level - 1] if level <= len(routing.ESCALATION) else "officer")
    ticket.sla_level = level
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "sla_breach", "actor": "sla", "created_at": now,
                              "data": {"level": level, "hours": round(hours, 2), "reminded": [o.id for o in reminded],
                                       "escalated_to": [o.id for o in targets]}}])
    log.info("sla: ticket %s %s after %.1f h; escalated to %s", ticket.public_id, what, hours,
             ", ".join(o.name for o in targets) or "nobody")
    return replies
