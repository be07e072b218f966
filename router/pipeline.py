"""The pipeline job: stored messages become tickets (or command answers) and queued replies."""
from __future__ import annotations

import logging
from dataclasses import replace

from pydantic import ValidationError
from redis.exceptions import RedisError
from rq.timeouts import JobTimeoutException
from sqlalchemy.orm import Session

from ingest.message import Message
from nlp.classify import Prediction
from nlp.lang import detect, undecided
from router import context, crop, handlers, questions, unit, waze, window
from router.filing import Item, file_reports
from router.outcome import Outcome, Reply, fold
from store import db, ops
from store.storable import clean_text

log = logging.getLogger(__name__)


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
        fed, feed_failed = _handle_feed(session, feed)
        citizens = ops.upsert_citizens(session, [
            {"channel": m.channel, "external_id": m.sender.id, "display_name": m.sender.name,
             "username": m.sender.username, "language": m.language_hint} for _, m in messages
        ])
        predictions = [_given(m, p) for (_, m), p in zip(messages, context.classifier().predict([m.text for _, m in messages]))]
        # A message that says nothing of its language ("/status", a ticket number) keeps the conversation's.
        earlier = ops.ticket_languages(session, {citizens[(m.channel, m.sender.id)] for _, m in messages
                                                 if undecided(m.text)})
        items = [Item(i, m, cid, detect(m.text, m.language_hint, earlier.get(cid)), p)
                 for (i, m), p in zip(messages, predictions) for cid in (citizens[(m.channel, m.sender.id)],)]
        handled, failed = _handle_all(session, items)
        failed += feed_failed
        rows = list(handled.replies + fed.replies)
        # Tickets these messages filed or completed go to officers now, in this transaction: their cards
        # are replies like any other (dispatch_open leaves alone tickets that are not open).
        touched = sorted({r.ticket_id for r in rows if r.ticket_id} | fed.filed)
        try:
            with session.begin_nested():
                cards, _ = crop.dispatch_open(session, touched)
        except Exception:  # the reports stay filed and open: the sweep sends them to officers later
            log.exception("pipeline: sending %d ticket(s) to officers failed; the sweep will retry", len(touched))
            cards = []
        # Reports are filed before the rest: put replies back in the order the messages came,
        # and one reply per message: "sent to the officers" joins the acknowledgement it follows.
        replies = fold(sorted(rows, key=lambda r: r.inbound_id or 0) + cards)
        # A ticket that reached officers, or that someone moved, gets its next SLA check.
        # (A card went out for it: a notice that nobody covers it yet starts no clock.)
        moved = handled.moved | {c.ticket_id for c in cards if c.ticket_id and c.card}
        done = unit.commit(session, Outcome(tuple(replies), moved=moved))
        # Their citizens have just written: replies held for a channel's answer window may go now, before these.
        held = window.release(session, {m.address.chat_key for _, m in messages if window.hours(m.channel) is not None})
        done = replace(done, outbox_ids=held + done.outbox_ids) if held else done
    unit.after_commit(done)
    return {"handled": len(items) + len(feed) - failed, "failed": failed, "replies": len(done.outbox_ids)}


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


def _handle_feed(session: Session, feed: list[tuple[int, Message]]) -> tuple[Outcome, int]:
    """Waze alerts, each in its own savepoint; → (the tickets they filed and their replies, messages failed)."""
    filed: set[int] = set()
    rows: list[Reply] = []
    failed = 0
    for inbound_id, msg in feed:
        try:
            with session.begin_nested():
                out = waze.handle(session, inbound_id, msg)
            filed |= out.filed
            rows += out.replies
        except Exception as exc:
            if _environment(exc):
                raise  # a deadlock, a lock wait, a lost connection: the whole job is retried, nothing is lost
            # Any other error is this alert's: one bad alert must not hold up the batch.
            log.exception("pipeline: waze message %d failed", inbound_id)
            ops.fail_inbound(session, inbound_id, db.reason(exc))
            failed += 1
    return Outcome(tuple(rows), filed=frozenset(filed)), failed


def _handle_all(session: Session, items: list[Item]) -> tuple[Outcome, int]:
    """Plain new reports are filed together (the common case, in a few statements); the rest one by one.
    → (their replies and the tickets the rest may have moved, messages failed)."""
    tax = context.taxonomy()
    plain: list[Item] = []
    rest: list[Item] = []
    # A chat the hub asked a question in reads its next message as the answer first (router/answers.py); so
    # does a chat whose earlier message in this batch may ask one ("banjir!", then the address, in one poll).
    waiting = questions.chats_waiting(session, [i.msg.address.chat_key for i in items])
    for item in items:  # one pass: comparing Items (whole messages) for membership would cost O(n²)
        chat = item.msg.address.chat_key
        (plain if handlers.is_plain_report(item, tax) and chat not in waiting else rest).append(item)
        waiting.add(chat)
    rows: list[Reply] = []
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
                handled = handlers.handle(session, item)
            rows += handled.replies
            moved |= handled.moved
        except Exception as exc:
            if _environment(exc):
                raise  # a deadlock, a lock wait, a lost connection: the whole job is retried, nothing is lost
            # Any other error is this message's: one bad message must not hold up the batch.
            log.exception("pipeline: message %d failed", item.inbound_id)
            ops.fail_inbound(session, item.inbound_id, db.reason(exc))
            failed += 1
    return Outcome(tuple(rows), moved=frozenset(moved)), failed
