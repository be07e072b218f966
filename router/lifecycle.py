"""The ticket lifecycle: which status may follow which, and one audited change at a time.

received → needs_info → open → assigned (sent to a unit) → taken (an officer has it) → in_progress →
resolved → closed, plus reopened, rejected and duplicate. Every change writes a ticket event (who, when, note,
photo) and tells every reporter.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.message import Address
from router import questions, routing, timers
from router.outcome import Button, Reply
from router.templates import TEMPLATES, render
from store import ops
from store.models import Ticket, TicketReporter, utcnow

STATUSES = ("received", "needs_info", "open", "assigned", "taken", "in_progress", "resolved", "closed", "reopened",
            "rejected", "duplicate")
# status → the statuses it may change to ("assigned" is sent to officers or a unit's chat, "taken" is one
# officer holding it: router/crop.py lets only the first who takes it do so; back to open is a
# reassignment to another agency, which sends it out again; open → open reassigns one nobody has received).
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"needs_info", "open", "rejected", "duplicate"}),
    "needs_info": frozenset({"open", "rejected", "duplicate"}),
    "open": frozenset({"open", "needs_info", "assigned", "taken", "in_progress", "resolved", "rejected", "duplicate"}),
    "assigned": frozenset({"taken", "open", "in_progress", "resolved", "rejected"}),
    "taken": frozenset({"open", "in_progress", "resolved", "rejected"}),
    "in_progress": frozenset({"open", "in_progress", "resolved", "rejected"}),
    "resolved": frozenset({"closed", "reopened"}),
    "reopened": frozenset({"open", "assigned", "taken", "in_progress", "resolved", "rejected"}),
    "closed": frozenset({"reopened"}),
    "rejected": frozenset({"reopened"}),
    "duplicate": frozenset(),
}


# A ticket filed from a feed alone closes itself when its alert leaves the feed while no officer works on
# it yet (router/waze.py decides); nobody else closes a ticket that was not resolved.
FEED_ACTORS = frozenset({"waze"})
SELF_CLOSING = frozenset({"open", "assigned"})
# HC (issue 20, 7a): so does a ticket of a short-lived category (tickets.expire_after) that no officer touched, once
# its time is up (router/expiry.py decides).
EXPIRY_ACTOR = "expiry"


class TransitionError(ValueError):
    """A status change the lifecycle does not allow (e.g. closing a ticket nobody resolved)."""


def can_change(current: str, to: str, actor: str | None = None) -> bool:
    """True when a ticket in `current` may change to `to` (at the hands of `actor`)."""
    if to == "closed" and (actor in FEED_ACTORS or actor == EXPIRY_ACTOR) and current in SELF_CLOSING:
        return True
    return to in TRANSITIONS.get(current, frozenset())


def change(session: Session, ticket: Ticket, to: str, actor: str, *, note: str | None = None,
           photo: str | None = None, officer_id: int | None = None, inbound_id: int | None = None,
           at: datetime | None = None, who: tuple[str, dict[str, str]] | None = None,
           tell: bool = True) -> list[Reply]:
    """Change the ticket's status with its audit event; return the updates for every reporter.
    `who` names, for the reporters, whom the ticket went to (on "assigned"): a template key and its values;
    `tell` False: the caller tells the reporters itself (a handoff says where and why, router/handoff.py)."""
    if not can_change(ticket.status, to, actor):
        raise TransitionError(f"ticket {ticket.public_id} is {ticket.status}: it cannot become {to}")
    now = at or utcnow()
    before = ticket.status
    ticket.status, ticket.updated_at = to, now
    timers.on_change(ticket, before, to, now)
    # Sending a ticket elsewhere (back to open: a handoff, a new category) is not a response: the response
    # target keeps running for whoever gets it, or a handoff would stop the clock.
    if actor.startswith("officer:") and ticket.first_response_at is None and to != "open":
        ticket.first_response_at = now
    if officer_id is not None and to in ("taken", "in_progress", "resolved"):
        ticket.assigned_officer_id = officer_id  # whoever works on it is who a reopened ticket goes back to
    if to == "resolved":
        ticket.resolved_at, ticket.resolution_photo_file_id = now, photo or ticket.resolution_photo_file_id
    if to == "closed":
        ticket.closed_at = now
    if to == "reopened":
        ticket.resolved_at = ticket.closed_at = None
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "status", "actor": actor, "inbound_id": inbound_id,
                              "data": {"from": before, "to": to, "note": note, "photo": photo,
                                       "officer_id": officer_id, **({"who": who[0], **who[1]} if who else {})},
                              "created_at": now}])
    session.flush()
    # Questions the new status makes pointless end, and their buttons go.
    cleared = questions.outdate(session, ticket.id, to)
    if not tell:
        return cleared
    return citizen_updates(session, ticket, to, note, photo, event_key=f"{before}->{to}@{now.isoformat()}",
                           who=who) + cleared


def reporters(session: Session, ticket_id: int) -> list[TicketReporter]:
    """Everyone to tell about a ticket, first reporter first."""
    stmt = select(TicketReporter).where(TicketReporter.ticket_id == ticket_id).order_by(TicketReporter.joined_at)
    return list(session.scalars(stmt))


def reporters_of(session: Session, ticket_ids: list[int]) -> dict[int, list[Any]]:
    """Everyone to tell about each of several tickets, first reporter first, as plain rows (one query for a
    batch: loading them as objects would cost more than telling them)."""
    found: dict[int, list[Any]] = {t: [] for t in ticket_ids}
    if ticket_ids:
        r = TicketReporter
        stmt = (select(r.ticket_id, r.citizen_id, r.reply_address, r.language).where(r.ticket_id.in_(ticket_ids))
                .order_by(r.ticket_id, r.joined_at))
        for reporter in session.execute(stmt):
            found[reporter.ticket_id].append(reporter)
    return found


class Told(Protocol):
    """What telling reporters of a ticket needs of it (a Ticket, or a plain row of its columns)."""

    id: int
    public_id: str | None
    agency: str | None


def citizen_updates(session: Session, ticket: Told, status: str, note: str | None, photo: str | None,
                    event_key: str, who: tuple[str, dict[str, str]] | None = None,
                    people: list[Any] | None = None) -> list[Reply]:
    """One reply per reporter telling them of `status` (or "unrouted"), in their language, with the
    officer's photo and a fixed / not fixed question when resolved."""
    key = f"update_{status}"
    if key not in TEMPLATES:
        return []  # e.g. needs_info: the dialogue asks its own question
    updates = []
    for reporter in people if people is not None else reporters(session, ticket.id):
        lang = reporter.language
        agency = routing.agency_name(ticket.agency) or render("agency_unknown", lang)
        text = render(key, lang, ticket=ticket.public_id, agency=agency,
                      who=render(who[0] if who else "who_officers", lang, agency=agency, **(who[1] if who else {})),
                      note=render("update_note", lang, note=note) if note else "")
        update = Reply(Address(**reporter.reply_address), text, f"update:{ticket.id}:{reporter.citizen_id}:{event_key}",
                       ticket.id)
        if status == "resolved":  # the officer's photo, and the question whether it is fixed
            # menu: on a channel without buttons (SMS) the question goes as a numbered menu, and a bare number
            # typed back answers it (router/dialogue.py); language: the menu's hint in the reporter's language.
            update = replace(update, photo=photo or None, buttons=((
                Button(render("btn_fixed", lang), f"/beres {ticket.public_id}"),
                Button(render("btn_not_fixed", lang), f"/belum {ticket.public_id}")),), menu=True, language=lang)
            questions.ask(session, ticket.id, reporter.citizen_id, update.chat_key, questions.FIXED, update.key)
        updates.append(update)
    return updates
