"""What one message does, as a table of (predicate, handler) read top to bottom: the first handler whose
predicate holds and that takes the message answers it (a handler may still decline, with None, and the next
rule is tried); a message no rule takes is a report. Plain reports skip the table: the pipeline files them
together (`is_plain_report`)."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Callable

from sqlalchemy.orm import Session

from bots import registry
from ingest.message import Message
from nlp.geocode import text_place
from nlp.rules import Taxonomy
from router import (answers, cards, commands, context, crop, dialogue, lifecycle, nearby, positions, questions,
                    ticket_ids)
from router.filing import Item, attach, completed, file_reports, reply_row, set_place, ticket_located
from router.outcome import Outcome
from router.templates import render
from store import ops
from store import officers as roster
from store.models import utcnow

log = logging.getLogger(__name__)
# A message the model calls "not a report" gets no ticket only when it is this sure: a report wrongly
# dropped is worse than a greeting filed as a ticket (the classifier is still below its targets).
NOT_REPORT_SURE = 0.9

Predicate = Callable[[Session, Item], bool]
Handler = Callable[[Session, Item], Outcome | None]


def handle(session: Session, item: Item) -> Outcome:
    """Act on one message of any kind; → its replies and the tickets it moved."""
    if dialogue.is_number(item.msg.text):  # a number answering a menu stands for that button's value
        item = replace(item, msg=dialogue.resolve_number(session, item.msg))
    for applies, act in RULES:
        if applies(session, item):
            outcome = act(session, item)
            if outcome is not None:
                return outcome
    return Outcome.about(file_reports(session, [item]))


def is_plain_report(item: Item, tax: Taxonomy) -> bool:
    """True for a new report no rule of the table would take: it can be filed with others of its batch."""
    msg = item.msg
    return (not msg.command and not msg.reply_to and bool(msg.text.strip()) and not dialogue.is_number(msg.text)
            and not crop.is_bare_answer(msg) and not small_talk(item, tax))


def small_talk(item: Item, tax: Taxonomy) -> bool:
    """Greetings, thanks, questions, news: no photo or location, and clearly not a report."""
    if item.msg.location or item.msg.media or item.msg.category:
        return False  # a channel that names the category (Open311) files a report, whatever its words
    p = item.prediction
    return tax.is_chit_chat(item.msg.text) or (p.category == "not_report" and p.confidence >= NOT_REPORT_SURE)


# --- predicates ---------------------------------------------------------------------------------------

def _reporter_chooses(session: Session, item: Item) -> bool:
    """`/kategori <ticket> <name>` from a reporter (an officer's, or one on a card, re-categorises: crop)."""
    msg = item.msg
    return msg.command == dialogue.CHOOSE and not _on_card(session, msg) and not _officers_choice(session, item)


def _answers_nearby(session: Session, item: Item) -> bool:
    """Ya/Tidak to "support the report nearby?": a button (or its menu number), or a short word typed while that
    is the chat's newest question (before "sudah"/"belum" is read as "is it fixed?")."""
    msg = item.msg
    if nearby.is_command(msg.text):
        return True
    if msg.command or msg.reply_to or nearby.typed(msg.text) is None:
        return False
    waiting = questions.pending(session, msg.address.chat_key, item.citizen_id)
    return waiting is not None and waiting.kind == questions.NEARBY


def _may_be_crop(session: Session, item: Item) -> bool:
    """A command, a reply, or a bare "sudah"/"belum": it may be an officer acting or a reporter confirming."""
    msg = item.msg
    return bool(msg.command or msg.reply_to) or crop.is_bare_answer(msg)


def _is_command(session: Session, item: Item) -> bool:
    return bool(item.msg.command) or commands.spoken(item.msg.text) is not None


def _is_reply(session: Session, item: Item) -> bool:
    return bool(item.msg.reply_to)


def _anything(session: Session, item: Item) -> bool:
    return True


def _attachment_alone(session: Session, item: Item) -> bool:
    """A photo or a location with no words: it belongs to the citizen's report of a moment ago, if any."""
    msg = item.msg
    return not msg.text.strip() and bool(msg.location or msg.media)


def _is_small_talk(session: Session, item: Item) -> bool:
    return small_talk(item, context.taxonomy())


def _officers_choice(session: Session, item: Item) -> bool:
    """True when `/kategori <ticket> <name>` comes from an officer who did not report that ticket: it
    re-categorises it (on a card or typed); a reporter's own `/kategori` answers the category question."""
    msg = item.msg
    if not registry.offers(msg.channel, "officers") or roster.by_identity(session, msg.channel, msg.sender.id) is None:
        return False
    parts = msg.text.split()
    public_id = ticket_ids.parse(parts[1]) if len(parts) >= 2 else None
    ticket = ops.ticket_by_public_id(session, public_id) if public_id else None
    return ticket is not None and item.citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}


def _on_card(session: Session, msg: Message) -> bool:
    """True when the message replies to an officer's card (or an answer about its ticket)."""
    replied = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    return replied is not None and bool((replied.extras or {}).get("card"))


# --- handlers -----------------------------------------------------------------------------------------

def _nearby(session: Session, item: Item) -> Outcome | None:
    if nearby.is_command(item.msg.text):
        return nearby.answer_command(session, item)
    return _answer_waiting(session, item)


def _choose_category(session: Session, item: Item) -> Outcome:
    return dialogue.choose_category(session, item.msg, item.inbound_id, item.citizen_id, item.language)


def _crop_message(session: Session, item: Item) -> Outcome | None:
    """An officer acting on a ticket, or a reporter confirming a fix; None for anything else."""
    msg = item.msg
    replied = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    on_card = replied is not None and bool((replied.extras or {}).get("card"))
    action = crop.officer_action(msg)
    if action is not None and (on_card or msg.command in crop.OFFICER_COMMANDS):
        return crop.handle_officer(session, msg, item.inbound_id, action, replied, item.language)
    if on_card:
        log.info("pipeline: a reply to a card that names no action (message %d); ignored", item.inbound_id)
        return Outcome()
    answer = crop.citizen_answer(msg)
    if answer is not None:
        return crop.handle_citizen_answer(session, msg, item.inbound_id, item.citizen_id, answer, replied,
                                          item.language)
    return None


def _command(session: Session, item: Item) -> Outcome:
    return Outcome.about([reply_row(item, commands.answer(session, item.msg, item.citizen_id, item.language))])


def _reply_to_ticket(session: Session, item: Item) -> Outcome | None:
    """A reporter's reply to a message about their ticket adds to it (and may give it its place)."""
    msg = item.msg
    ticket = ops.ticket_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    # Only a reporter adds to a ticket (in a group chat, anyone can reply to anything).
    if ticket is None or item.citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
        return None
    waiting = questions.pending(session, msg.address.chat_key, item.citizen_id)
    if waiting is not None and waiting.ticket_id == ticket.id:
        read = answers.read(session, item, waiting)  # a swipe-reply to the question is its answer
        if read is not None:
            return read
    waited = ticket.status == "needs_info"
    if waited and msg.text.strip():
        # The answer to "where?": the address or kelurahan it names becomes the ticket's place.
        set_place(ticket, text_place(msg.text), msg.text)
    attach(session, ticket, item, "citizen_comment")
    placed = waited and ticket_located(ticket)
    lang = ticket.language
    text = render("place_set", lang, ticket=ticket.public_id, place=cards.place_words(ticket, lang)) \
        if placed else render("comment", lang, ticket=ticket.public_id)
    return Outcome.about(completed(session, ticket, item, [reply_row(item, text, ticket.id)]))


def _answer_waiting(session: Session, item: Item) -> Outcome | None:
    """The answer to the question the hub last asked in this chat (where?, which category?), if it is one."""
    waiting = questions.pending(session, item.msg.address.chat_key, item.citizen_id)
    return answers.read(session, item, waiting) if waiting is not None else None


def _attach_to_recent(session: Session, item: Item) -> Outcome | None:
    """A photo or location joins the citizen's ticket of the last few minutes (none: it is a report)."""
    msg = item.msg
    since = utcnow() - timedelta(minutes=context.config().attach_window_minutes)
    ticket = ops.recent_open_ticket(session, item.citizen_id, since)
    if ticket is None:
        return None
    attach(session, ticket, item, "citizen_attachment")
    what = "what_both" if msg.location and msg.media else "what_location" if msg.location else "what_photo"
    text = render("attached", ticket.language, what=render(what, ticket.language), ticket=ticket.public_id)
    if msg.location:  # say where it is now
        text += " " + render("place_now", ticket.language, place=cards.place_words(ticket, ticket.language))
    return Outcome.about(completed(session, ticket, item, [reply_row(item, text, ticket.id)]))


def _chit_chat(session: Session, item: Item) -> Outcome:
    return Outcome.about([reply_row(item, render("chit_chat", item.language))])


# Read top to bottom; the first handler that takes the message answers it.
RULES: tuple[tuple[Predicate, Handler], ...] = (
    (positions.is_live, positions.handle),  # an officer's live location (its start, a new position, its stop)
    (_reporter_chooses, _choose_category),  # a reporter's answer to "which category?"
    (_answers_nearby, _nearby),  # a reporter's answer to "support the report nearby?"
    (_may_be_crop, _crop_message),  # an officer acting on a ticket, a reporter confirming a fix
    (_is_command, _command),  # /start, /help, /status
    (_is_reply, _reply_to_ticket),  # a reporter adding to their ticket
    (_anything, _answer_waiting),  # the answer to the question waiting in this chat
    (_attachment_alone, _attach_to_recent),  # a photo or location for the report just sent
    (_is_small_talk, _chit_chat),  # greetings, thanks, questions
)
