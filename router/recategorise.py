"""An officer re-categorises a ticket ("kategori banjir" in reply to its card, or the dashboard's field): the
ticket takes the new category and the agency it maps to, goes back to open so router.crop sends it to that
agency's officers, the change is recorded, the citizen is told, and the category is kept as a labelled example."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from ingest.message import Address
from router import cards, context, lifecycle, questions, routing
from router.lifecycle import TransitionError
from router.outcome import Outcome, Reply
from router.templates import render
from store import examples, ops
from store.models import Ticket, utcnow

log = logging.getLogger(__name__)

# Statuses in which the ticket has not gone to officers yet: it takes its new category and waits as it was.
NOT_SENT = ("received", "needs_info")


def category_named(words: str) -> str | None:
    """The category an officer names ("banjir", "flood", "parkir liar"), in Indonesian or English; None if none."""
    found = context.taxonomy().named(words.strip())
    return found if found and found != "not_report" else None


def change(session: Session, ticket: Ticket, words: str, actor: str, officer_id: int, inbound_id: int | None,
           language: str) -> Outcome:
    """Give the (locked) ticket the category `words` names, by an officer: → its replies (old cards told, the
    reporters told), the ticket left open for the caller to dispatch; or, said, what to ask the officer again.
    Raises TransitionError when the ticket's status allows no re-routing (resolved, closed, rejected...)."""
    tax = context.taxonomy()
    chosen = category_named(words)
    if chosen is None:
        names = ", ".join(tax.label(c, language) for c in tax.categories if c != "not_report")
        return Outcome(said=render("officer_need_category", language, categories=names))
    if chosen == ticket.category:
        return Outcome(said=render("officer_same_category", language, ticket=ticket.public_id,
                                   category=tax.label(chosen, language)))
    if ticket.status not in NOT_SENT and not lifecycle.can_change(ticket.status, "open"):
        raise TransitionError(ticket.status)
    before, agency_before = ticket.category, ticket.agency
    # The reporter's category question ends: their answer must not undo the officer's.
    rows = questions.end(session, ticket.id, questions.CATEGORY, "outdated")
    if ticket.status not in NOT_SENT:
        cards_sent = ops.card_chats(session, ticket.id)
        rows += cards.tell(session, ticket, render("card_recategorised", "id", ticket=ticket.public_id,
                                                   before=tax.label(before, "id"), after=tax.label(chosen, "id")),
                           f"recategorised:{chosen}")
        rows += questions.clear_buttons(session, [c.dedupe_key for c in cards_sent], ticket.id)
        rows += lifecycle.change(session, ticket, "open", actor, note=f"{before} → {chosen}", officer_id=officer_id,
                                 inbound_id=inbound_id)
    ticket.category, ticket.category_confidence, ticket.updated_at = chosen, 1.0, utcnow()
    ticket.agency, ticket.assigned_officer_id = routing.agency_for(chosen), None
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "recategorised", "actor": actor, "inbound_id": inbound_id,
                              "data": {"from": before, "to": chosen, "agency_from": agency_before,
                                       "agency": ticket.agency, "officer_id": officer_id}}])
    examples.add(session, ticket, chosen, "officer", predicted=before, officer_id=officer_id)
    log.info("recategorise: ticket %s %s → %s (%s) by %s", ticket.public_id, before, chosen, ticket.agency, actor)
    return Outcome(tuple(rows + _tell_reporters(session, ticket, before)))


def _tell_reporters(session: Session, ticket: Ticket, before: str | None) -> list[Reply]:
    """One message per reporter, in their language, on their channel: the new category and its agency."""
    tax = context.taxonomy()
    rows = []
    for reporter in lifecycle.reporters(session, ticket.id):
        lang = reporter.language
        label = tax.label(ticket.category, lang)
        text = render("update_recategorised", lang, ticket=ticket.public_id, category=label[:1].upper() + label[1:],
                      agency=routing.agency_name(ticket.agency) or render("agency_unknown", lang))
        key = f"recategorised:{ticket.id}:{reporter.citizen_id}:{before}->{ticket.category}@{utcnow().isoformat()}"
        rows.append(Reply(Address(**reporter.reply_address), text, key, ticket.id))
    return rows
