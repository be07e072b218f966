"""Short-lived categories expire (tickets.expire_after): a ticket of such a category (a jam, jockeys, a parked car)
that no officer touched closes itself once its hours are up, counted from its last report (filed, or a citizen
joining or adding to it). Its trail gets the note, its reporters are told why, and the chats holding its card hear
it. The sweep (router/recover.py) runs it every workers.sweep_interval, as it expires unanswered questions: no
job to lose, and a restart loses nothing."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from ingest.message import Address
from router import cards, context, lifecycle, unit
from router.outcome import Outcome, Reply
from router.templates import render
from store import db
from store.models import Ticket, TicketEvent, WazeAlert, utcnow

log = logging.getLogger(__name__)

LIMIT = 200  # tickets closed per sweep: a backlog (the sweep was off for a day) goes over a few sweeps
# What a citizen does to a ticket that says the problem is still there: the hours count again from it.
STILL_THERE = ("created", "merged", "citizen_comment", "citizen_attachment")


def sweep(now: datetime | None = None) -> int:
    """Close every expired ticket, each in its own savepoint; → tickets closed."""
    now = now or utcnow()
    try:
        with db.session() as session:
            closed: list[int] = []
            rows: list[Reply] = []
            for ticket_id in due(session, now):
                try:
                    with session.begin_nested():
                        told = close(session, ticket_id, now)
                except Exception as exc:
                    if db.is_transient(exc):
                        raise  # the next sweep tries again
                    log.exception("expiry: ticket %d could not close", ticket_id)
                    continue
                if told is not None:
                    closed.append(ticket_id)
                    rows += told
            done = unit.commit(session, Outcome(tuple(rows)))
    except Exception:
        log.exception("expiry: closing expired tickets failed; the next sweep tries again")
        return 0
    unit.after_commit(done)
    return len(closed)


def due(session: Session, now: datetime) -> list[int]:
    """Tickets of short-lived categories filed longer ago than their hours that no officer touched (read without
    a lock: `close` locks each and looks again)."""
    found: list[int] = []
    for category, hours in sorted(context.config().expire_after.items()):
        stmt = (select(Ticket.id, Ticket.created_at)
                .where(Ticket.category == category, Ticket.status.in_(lifecycle.SELF_CLOSING),
                       Ticket.created_at <= now - timedelta(hours=hours), *_untouched())
                .order_by(Ticket.id).limit(LIMIT - len(found)))
        found += [t for t, filed in session.execute(stmt)
                  if _last_report(session, t, filed) <= now - timedelta(hours=hours)]
        if len(found) >= LIMIT:
            break
    return found


def close(session: Session, ticket_id: int, now: datetime) -> list[Reply] | None:
    """Close one expired ticket (locked, and looked at again: an officer may have taken it meanwhile); → what
    its reporters and officers are told; None when it no longer expires."""
    ticket = session.get(Ticket, ticket_id, with_for_update=True, populate_existing=True)
    hours = context.config().expire_after.get(ticket.category or "") if ticket is not None else None
    if ticket is None or hours is None or ticket.status not in lifecycle.SELF_CLOSING or \
            session.scalars(select(Ticket.id).where(Ticket.id == ticket_id, *_untouched())).first() is None or \
            _last_report(session, ticket_id, ticket.created_at) > now - timedelta(hours=hours):
        return None
    shown = f"{hours:g}"
    note = render("expired_note", "id", hours=shown)
    changed = lifecycle.change(session, ticket, "closed", lifecycle.EXPIRY_ACTOR, note=note)
    # The lifecycle's "closed, thank you" is not what happened: each reporter is told why instead (the rest of
    # what it returns, buttons of questions that no longer apply, goes as it is).
    rows = [r for r in changed if not r.key.startswith(f"update:{ticket.id}:")]
    tax = context.taxonomy()
    for reporter in lifecycle.reporters(session, ticket.id):
        lang = reporter.language
        rows.append(Reply(Address(**reporter.reply_address),
                          render("update_expired", lang, ticket=ticket.public_id, hours=shown,
                                 category=tax.label(ticket.category, lang)),
                          f"expired:{ticket.id}:{reporter.citizen_id}", ticket.id))
    rows += cards.tell(session, ticket, render("waze_closed_officer", "id", ticket=ticket.public_id, note=note),
                       "expired")
    log.info("expiry: ticket %s (%s) closed after %s h without an officer", ticket.public_id, ticket.category, shown)
    return rows


def _untouched() -> tuple[ColumnElement[bool], ...]:
    """Conditions on Ticket: no officer has acted on it (answered, taken, handed on, re-categorised, commented),
    and no Waze alert in the feed still shows it (the feed's departure closes those: router/waze.py)."""
    # (An officer refused the right to act on it did nothing to it.)
    by_officer = exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind != "refused",
                                or_(TicketEvent.actor.startswith("officer:"), TicketEvent.actor.startswith("web:")))
    in_feed = exists().where(WazeAlert.ticket_id == Ticket.id, WazeAlert.status == "active")
    return (Ticket.first_response_at.is_(None), Ticket.assigned_officer_id.is_(None), ~by_officer, ~in_feed)


def _last_report(session: Session, ticket_id: int, filed: datetime) -> datetime:
    """When a citizen last said the problem is there: filed, joined, or added to."""
    return max([filed, *session.scalars(select(TicketEvent.created_at).where(TicketEvent.ticket_id == ticket_id,
                                                                             TicketEvent.kind.in_(STILL_THERE)))])
