"""The citizen's answer to "there is a similar report near you: support it?" (router/duplicates.py asks). Yes:
they join that ticket as a co-reporter and theirs is kept as its duplicate (audited on both). No, or no answer
within tickets.nearby_wait_minutes: theirs is filed as a ticket of its own and goes to officers."""
from __future__ import annotations

import logging
import re
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.message import Address
from router import cards, context, crop, dialogue, duplicates, filing, lifecycle, links, questions
from router.filing import Item
from router.outcome import Outcome, Reply, fold
from router.templates import render
from store import ops
from store.models import Question, Ticket, TicketEvent

log = logging.getLogger(__name__)

YES = frozenset({"ya", "iya", "yes", "y", "ok", "oke", "dukung", "setuju", "sama", "betul", "benar"})
NO = frozenset({"tidak", "tdk", "gak", "nggak", "enggak", "no", "bukan", "beda", "lain", "baru"})
# A typed answer is a word or three ("ya, dukung"); a longer message is something else (a report of its own).
ANSWER_WORDS = 3
_WORDS = re.compile(r"\w+")


def is_command(text: str) -> bool:
    """`/dukung <ticket> <ticket>` or `/baru <ticket> <ticket>`: a button (or its menu number) pressed."""
    first = text.split(maxsplit=1)[0].lower() if text.strip() else ""
    return first in (duplicates.SUPPORT, duplicates.SEPARATE)


def typed(text: str) -> bool | None:
    """A short typed "ya" (True) or "tidak" (False); None for anything else."""
    words = _WORDS.findall(text.lower())
    if not words or len(words) > ANSWER_WORDS:
        return None
    return True if words[0] in YES else False if words[0] in NO else None


def answer_command(session: Session, item: Item) -> Outcome:
    """A pressed Ya/Tidak (or its menu number): the reporter's ticket waiting for that answer."""
    parts = item.msg.text.split()
    ticket = ops.ticket_by_public_id(session, parts[1]) if len(parts) >= 3 else None
    if ticket is None or item.citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
        # Not the sender's ticket: nothing is said of it.
        return Outcome.about([filing.reply_row(item, render("category_choice_unknown", item.language))])
    return decide(session, item, ticket, parts[0].lower() == duplicates.SUPPORT)


def answer_typed(session: Session, item: Item, ticket: Ticket) -> Outcome | None:
    """A typed "ya"/"tidak" while the question waits; None when the message is not one (handled as usual)."""
    said = typed(item.msg.text)
    return decide(session, item, ticket, said) if said is not None else None


def decide(session: Session, item: Item, ticket: Ticket, support: bool) -> Outcome:
    """Support the ticket nearby (join it) or file this one on its own."""
    session.refresh(ticket, with_for_update=True)
    question = session.scalars(select(Question).where(Question.ticket_id == ticket.id, Question.kind == questions.NEARBY,
                                                      Question.status == "open")).first()
    if question is None or ticket.status != "needs_info":
        text = render("nearby_too_late", item.language, ticket=offered(session, ticket.id) or ticket.public_id)
        return Outcome.about(dialogue.stale(item.msg, item.inbound_id, ticket.id, text)
                             or [filing.reply_row(item, text, ticket.id)])
    cleared = questions.close(session, question, "answered")
    actor = f"citizen:{item.citizen_id}"
    target = offered(session, ticket.id)
    same = ops.ticket_by_public_id(session, target) if target and support else None
    if same is not None:
        session.refresh(same, with_for_update=True)  # a feed or the expiry may be closing it this moment
    ops.add_events(session, [{"ticket_id": ticket.id, "kind": "nearby_answered", "actor": actor,
                              "inbound_id": item.inbound_id, "data": {"ticket": target, "support": support}}])
    if same is not None and same.status in duplicates.JOINABLE:
        log.info("nearby: %s supports %s (%s is its duplicate)", actor, same.public_id, ticket.public_id)
        # In the report's language: a pressed button's command says nothing of the citizen's.
        theirs = replace(item, language=ticket.language)
        return Outcome.about(fold(filing.merge_into(session, ticket, same, theirs, actor=actor) + cleared))
    lang = ticket.language
    prefix = render("nearby_gone", lang, ticket=target) + "\n\n" if support else ""
    said = filing.reply_row(item, prefix + ack(ticket, lang), ticket.id)
    return Outcome.about(filing.go_on(session, ticket, item, [said], nearby=False) + cleared)


def unanswered(session: Session, ticket: Ticket, question: Question) -> list[Reply]:
    """The question expired (router/answers.py): the report is filed on its own and goes to officers; one
    message tells the citizen so, with its acknowledgement."""
    moved = lifecycle.change(session, ticket, "open", "router", note=render("nearby_unanswered", "id"))
    moved += crop.dispatch_open(session, [ticket.id])[0]
    asked = questions.asked_by(session, question)
    if asked is None:
        return moved
    lang = ticket.language
    told = Reply(Address(**{**asked.address, "callback_id": None}),
                 render("nearby_unanswered", lang) + "\n\n" + ack(ticket, lang), f"nearby-filed:{question.id}",
                 ticket.id)
    for update in moved:  # the citizen's own updates ("sent to the officers") join this one message
        if update.chat_key == told.chat_key and update.plain():
            told = told.then("\n\n" + update.text)
    return [told] + [r for r in moved if not (r.chat_key == told.chat_key and r.plain())]


def offered(session: Session, ticket_id: int) -> str | None:
    """The public id of the ticket nearby the citizen was last asked to support."""
    data = session.scalars(select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id,
                                                          TicketEvent.kind == "nearby_offered")
                           .order_by(TicketEvent.id.desc()).limit(1)).first()
    return str(data["ticket"]) if data and data.get("ticket") else None


def ack(ticket: Ticket, language: str) -> str:
    """The acknowledgement of a ticket filed on its own after the question (number, category, place)."""
    tax = context.taxonomy()
    label = tax.label(ticket.category, language) if ticket.category else render("category_unknown", language)
    return render("ack", language, ticket=ticket.public_id, category=label,
                  place=cards.place_words(ticket, language), link=links.see_line(ticket.public_id or "", language))
