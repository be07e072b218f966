"""The pipeline job: stored messages become tickets (or command answers) and queued replies."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException
from sqlalchemy.orm import Session

from ingest.message import Message
from nlp.classify import Prediction
from nlp.geocode import text_place
from nlp.lang import detect
from nlp.rules import Taxonomy
from router import answers, cards, commands, context, crop, dialogue, lifecycle, questions, replies, sla, ticket_ids, waze
from router.filing import Item, attach, completed, file_reports, fold, reply_row, set_place, ticket_located
from router.templates import render
from store import db, ops
from store import officers as roster
from store.models import utcnow
from store.storable import clean_text

log = logging.getLogger(__name__)
# A message the model calls "not a report" gets no ticket only when it is this sure: a report wrongly
# dropped is worse than a greeting filed as a ticket (the classifier is still below its targets).
NOT_REPORT_SURE = 0.9


def process_inbound(inbound_ids: list[int], recovered: bool = False) -> dict[str, int]:
    """Job: handle stored messages once each, then enqueue their replies. A message that breaks the batch is
    handled alone and fails alone; `recovered` (the sweep's jobs): count this try first, and give up on a
    message tried workers.max_attempts times."""
    ids = _tried(inbound_ids) if recovered else list(inbound_ids)
    if not ids:
        return {"handled": 0, "failed": 0, "replies": 0}
    try:
        return _process(ids)
    except Exception as exc:
        if _environment(exc):
            # Nobody's fault in particular: the whole job is retried (RQ Retry, then the sweep). The try is
            # counted (a recovered job counted it already) and its error kept for the dead letter.
            _note(ids, exc, 0 if recovered else 1)
            raise
        if len(ids) == 1:
            _fail(ids[0], exc)
            return {"handled": 0, "failed": 1, "replies": 0}
        log.warning("pipeline: a batch of %d message(s) failed (%s); handling them one by one", len(ids), db.reason(exc))
    totals = {"handled": 0, "failed": 0, "replies": 0}
    for position, inbound_id in enumerate(ids):
        try:
            result = _process([inbound_id])
        except Exception as exc:
            if _environment(exc):
                _note(ids[position:], exc, 0 if recovered else 1)
                raise
            _fail(inbound_id, exc)
            result = {"handled": 0, "failed": 1, "replies": 0}
        totals = {k: totals[k] + result[k] for k in totals}
    return totals


def _process(inbound_ids: list[int]) -> dict[str, int]:
    """Handle stored messages in one transaction, then enqueue their replies."""
    with db.session() as session:
        # Claiming and handling share one transaction: a crash leaves the rows to be claimed again.
        messages: list[tuple[int, Message]] = []
        for inbound_id, stored in ops.claim_inbound(session, inbound_ids):
            try:
                messages.append((inbound_id, Message.model_validate(stored)))
            except ValidationError as exc:
                log.error("pipeline: message %d is not a valid Message: %s", inbound_id, exc)
                ops.fail_inbound(session, inbound_id, clean_text(f"invalid message: {exc}"))
        # Feed alerts have no citizen and need no classifier: the feed says what and where.
        # In alert order, so two feed jobs lock alerts in the same order (they may still meet on a ticket; a
        # deadlock then fails one job, which RQ retries).
        feed = sorted(((i, m) for i, m in messages if m.channel == waze.CHANNEL), key=lambda im: im[1].address.chat_id)
        messages = [(i, m) for i, m in messages if m.channel != waze.CHANNEL]
        filed, feed_rows, feed_failed = _handle_feed(session, feed)
        citizens = ops.upsert_citizens(session, [
            {"channel": m.channel, "external_id": m.sender.id, "display_name": m.sender.name,
             "username": m.sender.username, "language": m.language_hint} for _, m in messages
        ])
        predictions = [_given(m, p) for (_, m), p in zip(messages, context.classifier().predict([m.text for _, m in messages]))]
        items = [Item(i, m, citizens[(m.channel, m.sender.id)], detect(m.text, m.language_hint), p)
                 for (i, m), p in zip(messages, predictions)]
        rows, failed, moved = _handle_all(session, items)
        rows += feed_rows
        failed += feed_failed
        # Tickets these messages filed or completed go to officers now, in this transaction: their cards
        # are outbox rows like any reply (dispatch_open leaves alone tickets that are not open).
        touched = sorted({row["ticket_id"] for row in rows if row["ticket_id"]} | filed)
        try:
            with session.begin_nested():
                cards, _ = crop.dispatch_open(session, touched)
        except Exception:  # the reports stay filed and open: the sweep sends them to officers later
            log.exception("pipeline: sending %d ticket(s) to officers failed; the sweep will retry", len(touched))
            cards = []
        # Reports are filed before the rest: put replies back in the order the messages came.
        # and one reply per message: "sent to the officers" joins the acknowledgement it follows.
        outbox_ids = replies.store(session, fold(sorted(rows, key=lambda row: row["inbound_id"] or 0) + cards))
    replies.enqueue_send(outbox_ids)
    # A ticket that reached officers, or that someone moved, gets its next SLA check.
    # (A card went out for it: a notice that nobody covers it yet starts no clock.)
    sla.schedule(sorted(moved | {row["ticket_id"] for row in cards if row["ticket_id"] and (row["extras"] or {}).get("card")}))
    return {"handled": len(items) + len(feed) - failed, "failed": failed, "replies": len(outbox_ids)}


def _environment(exc: BaseException) -> bool:
    """True for a failure that is no message's fault: the database or Redis down or busy, the job out of time."""
    return isinstance(exc, (RedisError, JobTimeoutException)) or db.unavailable(exc)


def _tried(inbound_ids: list[int]) -> list[int]:
    """Count a try of messages the sweep handed out again, after giving up on those tried max_attempts times;
    → the ids still to process."""
    limit = context.config().max_attempts
    with db.session() as session:
        dead = ops.dead_letter_inbound(session, limit, inbound_ids)
        attempts = ops.attempt_inbound(session, inbound_ids)
    if dead:
        log.error("pipeline: gave up on message(s) %s after %d tries (see `crophub failed list`)", dead, limit)
    return sorted(attempts)


def _note(inbound_ids: list[int], exc: BaseException, add: int) -> None:
    """Keep why a try failed (and count it) on the messages still to process; best effort: the database may be
    what failed."""
    try:
        with db.session() as session:
            ops.attempt_inbound(session, inbound_ids, add, db.reason(exc))
    except Exception as noted:
        log.warning("pipeline: could not count the failed try of %d message(s): %s", len(inbound_ids), db.reason(noted))


def _fail(inbound_id: int, exc: BaseException) -> None:
    """Dead-letter a message whose own content broke the job, in a transaction of its own."""
    log.error("pipeline: message %d failed alone and is dead-lettered: %s", inbound_id, db.reason(exc),
              exc_info=(type(exc), exc, exc.__traceback__))
    with db.session() as session:
        ops.fail_inbound(session, inbound_id, db.reason(exc), unclaimed=True)


def _given(msg: Message, predicted: Prediction) -> Prediction:
    """The category the channel gave (an Open311 service_code), when the taxonomy has it; else the model's."""
    if msg.category and msg.category != "not_report" and msg.category in context.taxonomy().categories:
        return Prediction(msg.category, 1.0, False, "channel")
    return predicted


def _handle_feed(session: Session, feed: list[tuple[int, Message]]) -> tuple[set[int], list[dict[str, Any]], int]:
    """Waze alerts, each in its own savepoint; → (tickets filed, outbox rows, messages failed)."""
    filed: set[int] = set()
    rows: list[dict[str, Any]] = []
    failed = 0
    for inbound_id, msg in feed:
        try:
            with session.begin_nested():
                made, out = waze.handle(session, inbound_id, msg)
            filed |= made
            rows += out
        except Exception as exc:
            if _environment(exc):
                raise  # a deadlock, a lock wait, a lost connection: the whole job is retried, nothing is lost
            # Any other error is this alert's: one bad alert must not hold up the batch.
            log.exception("pipeline: waze message %d failed", inbound_id)
            ops.fail_inbound(session, inbound_id, db.reason(exc))
            failed += 1
    return filed, rows, failed


def _handle_all(session: Session, items: list[Item]) -> tuple[list[dict[str, Any]], int, set[int]]:
    """Plain new reports are filed together (the common case, in a few statements); the rest one by one.
    → (reply rows, messages failed, tickets the rest may have moved)."""
    tax = context.taxonomy()
    plain: list[Item] = []
    rest: list[Item] = []
    # A chat the hub asked a question in reads its next message as the answer first (router/answers.py); so
    # does a chat whose earlier message in this batch may ask one ("banjir!", then the address, in one poll).
    waiting = questions.chats_waiting(session, [i.msg.address.chat_key for i in items])
    for item in items:  # one pass: comparing Items (whole messages) for membership would cost O(n²)
        chat = item.msg.address.chat_key
        (plain if _is_plain_report(item, tax) and chat not in waiting else rest).append(item)
        waiting.add(chat)
    rows: list[dict[str, Any]] = []
    try:
        with session.begin_nested():
            rows += file_reports(session, plain)
    except Exception:
        log.exception("pipeline: filing %d reports together failed; filing them one by one", len(plain))
        rest = plain + rest
    failed = 0
    moved: set[int] = set()
    for item in rest:
        try:
            with session.begin_nested():
                handled = handle(session, item)
                rows += handled
                moved |= {row["ticket_id"] for row in handled if row["ticket_id"]}
        except Exception as exc:
            if _environment(exc):
                raise  # a deadlock, a lock wait, a lost connection: the whole job is retried, nothing is lost
            # Any other error is this message's: one bad message must not hold up the batch.
            log.exception("pipeline: message %d failed", item.inbound_id)
            ops.fail_inbound(session, item.inbound_id, db.reason(exc))
            failed += 1
    return rows, failed, moved


def _is_plain_report(item: Item, tax: Taxonomy) -> bool:
    msg = item.msg
    return (not msg.command and not msg.reply_to and bool(msg.text.strip()) and not dialogue.is_number(msg.text)
            and not crop.is_bare_answer(msg) and not _small_talk(item, tax))


def _small_talk(item: Item, tax: Taxonomy) -> bool:
    """Greetings, thanks, questions, news: no photo or location, and clearly not a report."""
    if item.msg.location or item.msg.media or item.msg.category:
        return False  # a channel that names the category (Open311) files a report, whatever its words
    p = item.prediction
    return tax.is_chit_chat(item.msg.text) or (p.category == "not_report" and p.confidence >= NOT_REPORT_SURE)


def handle(session: Session, item: Item) -> list[dict[str, Any]]:
    """Act on one message of any kind; return the reply rows it produces."""
    if dialogue.is_number(item.msg.text):
        item = replace(item, msg=dialogue.resolve_number(session, item.msg))
    msg, language = item.msg, item.language
    cfg = context.config()
    if msg.command == dialogue.CHOOSE and not _on_card(session, msg) and not _officers_choice(session, item):
        return dialogue.choose_category(session, msg, item.inbound_id, item.citizen_id, language)
    if msg.command or msg.reply_to or crop.is_bare_answer(msg):
        answered = _crop_message(session, item)
        if answered is not None:
            return answered
    if msg.command:
        return [reply_row(item, commands.answer(session, msg, item.citizen_id, language))]
    if msg.reply_to:
        ticket = ops.ticket_for_reply(session, msg.address.chat_key, msg.reply_to)
        # Only a reporter adds to a ticket (in a group chat, anyone can reply to anything).
        if ticket is not None and item.citizen_id in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}:
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
            return completed(session, ticket, item, [reply_row(item, text, ticket.id)])
    waiting = questions.pending(session, msg.address.chat_key, item.citizen_id)
    if waiting is not None:
        read = answers.read(session, item, waiting)
        if read is not None:
            return read
    if not msg.text.strip() and (msg.location or msg.media):
        since = utcnow() - timedelta(minutes=cfg.attach_window_minutes)
        ticket = ops.recent_open_ticket(session, item.citizen_id, since)
        if ticket is not None:
            attach(session, ticket, item, "citizen_attachment")
            what = "what_both" if msg.location and msg.media else "what_location" if msg.location else "what_photo"
            text = render("attached", ticket.language, what=render(what, ticket.language), ticket=ticket.public_id)
            if msg.location:  # say where it is now
                text += " " + render("place_now", ticket.language, place=cards.place_words(ticket, ticket.language))
            return completed(session, ticket, item, [reply_row(item, text, ticket.id)])
    if _small_talk(item, context.taxonomy()):
        return [reply_row(item, render("chit_chat", language))]
    return file_reports(session, [item])


def _officers_choice(session: Session, item: Item) -> bool:
    """True when `/kategori <ticket> <name>` comes from an officer who did not report that ticket: it
    re-categorises it (on a card or typed); a reporter's own `/kategori` answers the category question."""
    msg = item.msg
    if msg.channel != "telegram" or roster.by_telegram_id(session, msg.sender.id) is None:
        return False
    parts = msg.text.split()
    public_id = ticket_ids.parse(parts[1]) if len(parts) >= 2 else None
    ticket = ops.ticket_by_public_id(session, public_id) if public_id else None
    return ticket is not None and item.citizen_id not in {r.citizen_id for r in lifecycle.reporters(session, ticket.id)}


def _on_card(session: Session, msg: Message) -> bool:
    """True when the message replies to an officer's card (or an answer about its ticket)."""
    replied = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    return replied is not None and bool((replied.extras or {}).get("card"))


def _crop_message(session: Session, item: Item) -> list[dict[str, Any]] | None:
    """An officer acting on a ticket, or a reporter confirming a fix; None for anything else."""
    msg = item.msg
    replied = ops.outbox_for_reply(session, msg.address.chat_key, msg.reply_to) if msg.reply_to else None
    on_card = replied is not None and bool((replied.extras or {}).get("card"))
    action = crop.officer_action(msg)
    if action is not None and (on_card or msg.command in crop.OFFICER_COMMANDS):
        return crop.handle_officer(session, msg, item.inbound_id, action, replied, item.language)
    if on_card:
        log.info("pipeline: a reply to a card that names no action (message %d); ignored", item.inbound_id)
        return []
    answer = crop.citizen_answer(msg)
    if answer is not None:
        return crop.handle_citizen_answer(session, msg, item.inbound_id, item.citizen_id, answer, replied,
                                          item.language)
    return None


