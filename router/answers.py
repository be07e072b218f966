"""Reading a citizen's message as the answer to the question the hub last asked in that chat (where?, which
category?), before anything else: a typed address completes the ticket that waits for it, a category's name
answers "which category?". Only a message that is clearly a new report of its own opens a new ticket."""
from __future__ import annotations

import logging
import re
from dataclasses import replace

from sqlalchemy.orm import Session

from bots import registry
from nlp.geocode import Place, outside_city
from nlp.place_rules import located
from nlp.places import LEVEL_WORDS, STREET_END, STREET_WORDS, index
from ingest.message import Address
from router import cards, context, crop, dialogue, filing, lifecycle, nearby, questions
from router.filing import Item
from router.outcome import Outcome, Reply
from router.templates import render
from store import db, ops
from store.models import Question, Ticket

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"[a-z]+")
# Words of an address that say nothing about a problem ("depan", "no", "rt").
_ADDRESS_WORDS = STREET_WORDS | STREET_END | set(LEVEL_WORDS) | {"dan", "yang", "itu", "ini", "pak", "bu", "tolong",
                                                                 "lokasi", "lokasinya", "alamat", "alamatnya", "nya",
                                                                 "saya", "kami", "rumah", "sini", "situ", "pokoknya",
                                                                 "sekitar", "dekat", "deket", "ada", "sebelah"}
# A message that names a problem in at least this many words (beyond its address) can be a report of its own.
REPORT_WORDS = 3


def read(session: Session, item: Item, question: Question) -> Outcome | None:
    """What `item` read as the answer to `question` comes to; None when it is not one (handle it as usual)."""
    ticket = session.get(Ticket, question.ticket_id, with_for_update=True, populate_existing=True)
    if ticket is None or ticket.status not in questions.STILL_ASKED[question.kind]:
        # Only a change made outside the lifecycle leaves such a question (router.lifecycle ends the others).
        questions.close(session, question, "outdated")
        return None
    if question.kind == questions.PLACE:
        placed = _place_answer(session, item, question, ticket)
        return Outcome.about(placed) if placed is not None else None
    if question.kind == questions.CATEGORY:
        return _category_answer(session, item, question, ticket)
    if question.kind == questions.NEARBY:
        return nearby.answer_typed(session, item, ticket)
    return None


def _place_answer(session: Session, item: Item, question: Question, ticket: Ticket) -> list[Reply] | None:
    msg, lang = item.msg, ticket.language
    if msg.command or not (msg.text.strip() or msg.location):
        return None  # a command, a photo alone: handled as usual (a photo joins the ticket)
    kind = "citizen_attachment" if msg.location or msg.media else "citizen_comment"
    if msg.location is not None and outside_city(msg.location.lat, msg.location.lon,
                                                 context.config().boundary_margin_m):
        filing.attach(session, ticket, item, kind)  # what came with it still counts; the point places nothing
        return _ask_again(session, item, question, ticket, render("place_outside_again", lang, ticket=ticket.public_id))
    place = filing.message_place(msg)
    # A message that names a place answers "where?", whatever else it says (its words join the ticket).
    if not located(place) and not msg.location and new_report(item, place, ticket):
        # A report of its own, with no answer in it: filed as one; the citizen is reminded of the question.
        filed = filing.file_reports(session, [item])
        if filed:
            filed[-1] = filed[-1].then(render("question_reminder_place", item.language, ticket=ticket.public_id))
        return filed
    filing.set_place(ticket, place, msg.text)
    filing.attach(session, ticket, item, kind)
    if filing.ticket_located(ticket):
        rows = questions.close(session, question, "answered")
        ops.add_events(session, [{"ticket_id": ticket.id, "kind": "place_set", "actor": f"citizen:{item.citizen_id}",
                                  "inbound_id": item.inbound_id, "data": {"place": cards.place_words(ticket, lang)}}])
        said = filing.reply_row(item, render("place_set", lang, ticket=ticket.public_id, place=cards.place_words(ticket, lang)),
                                ticket.id)
        return filing.completed(session, ticket, item, [said]) + rows
    again = "ask_place_again" if registry.offers(msg.channel, "locations") else "ask_place_again_text"
    return _ask_again(session, item, question, ticket, render(again, lang, ticket=ticket.public_id))


def _ask_again(session: Session, item: Item, question: Question, ticket: Ticket, text: str) -> list[Reply]:
    """Ask where once more, with an example; asked twice already, the ticket goes on without its place (what
    the message said is on the ticket already)."""
    lang = ticket.language
    if question.asked >= questions.MAX_ASKED:
        rows = questions.close(session, question, "dropped")
        ops.add_events(session, [{"ticket_id": ticket.id, "kind": "question_dropped", "actor": "router",
                                  "inbound_id": item.inbound_id, "data": {"question": question.kind}}])
        said = filing.reply_row(item, render("place_dropped", lang, ticket=ticket.public_id), ticket.id)
        return filing.go_on(session, ticket, item, [said]) + rows
    share = render("btn_share_location", lang) if registry.offers(item.msg.channel, "locations") else None
    asked = replace(filing.reply_row(item, text, ticket.id), ask_location=share)
    questions.ask(session, ticket.id, item.citizen_id, item.msg.address.chat_key, question.kind, asked.key)
    return [asked]


def _category_answer(session: Session, item: Item, question: Question, ticket: Ticket) -> Outcome | None:
    named = category_named(item.msg.text)
    if named is None:
        return None  # the ticket has its category already: anything else is handled as usual
    command = f"{dialogue.CHOOSE} {ticket.public_id} {named}"
    msg = item.msg.model_copy(update={"text": command, "command": dialogue.CHOOSE})
    return dialogue.choose_category(session, msg, item.inbound_id, item.citizen_id, item.language)


def category_named(text: str) -> str | None:
    """The category a short answer names ("banjir", "sampah", "parkir liar", "3"), if it names exactly one."""
    words = _TOKEN.findall(text.lower())
    if not words or len(words) > 4:
        return None
    found = context.taxonomy().named(" ".join(words))
    return found if found and found != "not_report" else None


def new_report(item: Item, place: Place | None, ticket: Ticket) -> bool:
    """True when a message sent while the hub waits for "where?" (and naming no place) is clearly a report of
    its own: a confident category other than the waiting ticket's, by a rule phrase or in words of its own."""
    p = item.prediction
    if item.msg.command or p.category in (None, "not_report", "other") or p.needs_confirmation:
        return False
    if p.confidence < context.confidence_threshold() or p.category == ticket.category:
        return False
    if p.source == "rule":
        return True  # a phrase that names a problem ("sampah menumpuk"), not a place
    rest = problem_words(item.msg.text)
    if len(rest) < REPORT_WORDS:
        return False
    [again] = context.classifier().predict([" ".join(rest)])
    return again.category == p.category and not again.needs_confirmation


def problem_words(text: str) -> list[str]:
    """The words of a message left once its place mentions, street names and address words are taken out."""
    words = _TOKEN.findall(text.lower())
    for mention in index().find(text):
        named = _TOKEN.findall(mention.text.lower())
        for start in range(len(words) - len(named) + 1):
            if named and words[start:start + len(named)] == named:
                del words[start:start + len(named)]
                break
    kept: list[str] = []
    in_street = False
    for word in words:
        if word in STREET_WORDS:
            in_street = True  # "jl kapten tendean": the street's name says nothing about the problem
            continue
        if word in STREET_END or word in LEVEL_WORDS:
            in_street = False
        if in_street or word in _ADDRESS_WORDS or len(word) < 3:
            continue
        kept.append(word)
    return kept


def expire(session: Session) -> Outcome:
    """Questions past their expiry end: their buttons go, and a ticket still waiting for its place goes on
    without it (to officers, "lokasi belum jelas"), its reporter told so. → the replies, and the tickets moved on
    (they reached officers: their SLA clock runs)."""
    rows: list[Reply] = []
    moved_on: set[int] = set()
    for question_id, ticket_id in questions.due(session):
        try:
            with session.begin_nested():  # one question at a time: one that fails leaves the others to go on
                # The ticket first, then its question: the order the pipeline locks them in (answers.read).
                ticket = session.get(Ticket, ticket_id, with_for_update=True, populate_existing=True)
                question = questions.expire(session, question_id)
                if question is None:
                    continue
                rows += questions.clear_buttons(session, question.asked_in, question.ticket_id)
                if ticket is not None and question.kind == questions.PLACE and ticket.status == "needs_info":
                    rows += _go_on_unplaced(session, ticket, question)
                    moved_on.add(ticket.id)
                elif ticket is not None and question.kind == questions.NEARBY and ticket.status == "needs_info":
                    rows += nearby.unanswered(session, ticket, question)  # filed on its own, to officers
                    moved_on.add(ticket.id)
        except Exception as exc:
            if db.is_transient(exc):
                raise  # the next sweep tries again
            log.exception("answers: question %d could not expire", question_id)
    return Outcome(tuple(rows), moved=frozenset(moved_on))


def _go_on_unplaced(session: Session, ticket: Ticket, question: Question) -> list[Reply]:
    """A ticket whose "where?" expired goes to officers as it is; one message tells the citizen so, and where
    the ticket went."""
    moved = lifecycle.change(session, ticket, "open", "router", note=render("place_unclear", "id"))
    moved += crop.dispatch_open(session, [ticket.id])[0]
    asked = questions.asked_by(session, question)
    if asked is None:
        return moved
    told = Reply(Address(**{**asked.address, "callback_id": None}),
                 render("place_dropped", ticket.language, ticket=ticket.public_id), f"dropped:{question.id}", ticket.id)
    # The citizen's own updates join this one message (what goes to officers stays apart).
    for update in moved:
        if update.chat_key == told.chat_key and update.plain():
            told = told.then("\n\n" + update.text)
    return [told] + [r for r in moved if not (r.chat_key == told.chat_key and r.plain())]
