"""The durable outbox: replies are stored rows first, then sent by a job, in order per chat."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Sequence

from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from bots import aio, registry
from bots.errors import PermanentError, RateLimited
from ingest import jobs
from ingest.message import Address
from router import context, window
from router.outcome import Reply, extras_fields
from router.pace import Pace
from store import db, media, ops
from store.media import MediaRef
from store.models import Outbox, utcnow

log = logging.getLogger(__name__)


def reply(address: Address, text: str, dedupe_key: str, ticket_id: int | None = None,
          inbound_id: int | None = None, extras: dict[str, Any] | None = None) -> Reply:
    """A reply for `text` to `address`, its `extras` written as the outbox stores them (store/models.py's
    Outbox.extras); dedupe_key names the event it answers (one reply each). The router builds Reply itself."""
    return Reply(address, text, dedupe_key, ticket_id, inbound_id, **extras_fields(extras))


def with_menu(text: str, extras: dict[str, Any], address: Address) -> str:
    """`text` with its buttons as a numbered menu, for channels that cannot show buttons (the router reads
    a bare number back as the button's value)."""
    from router.templates import render  # templates are the router's; only this fallback needs them

    labels = [b["label"] for row in extras["buttons"] for b in row]
    lang = "en" if extras.get("language") == "en" else "id"
    return text + "\n\n" + render("menu_hint", lang) + "\n" + "\n".join(f"{i}. {l}" for i, l in enumerate(labels, 1))


def store(session: Session, replies: Sequence[Reply]) -> list[int]:
    """Store replies in the caller's transaction (none for silent channels); returns the ids of those not
    stored before."""
    return ops.add_outboxes(session, [_row(r) for r in replies if r.to.channel not in registry.SILENT])


def _row(reply: Reply) -> dict[str, Any]:
    """A reply as its outbox row: the one place a Reply becomes stored columns."""
    return {"dedupe_key": reply.key, "channel": reply.to.channel, "chat_key": reply.to.chat_key,
            "address": reply.to.model_dump(mode="json"), "text": reply.text, "ticket_id": reply.ticket_id,
            "inbound_id": reply.inbound_id, "extras": reply.extras()}


def enqueue_send(outbox_ids: list[int], at: datetime | None = None, chat: str | None = None) -> None:
    """Enqueue a send job for stored replies (after their transaction has committed), now or at `at`.

    A job scheduled for a waiting chat gets an id from the chat and the time, so every job that finds
    the chat waiting replaces that one scheduled job instead of adding another."""
    if not outbox_ids:
        return
    cfg = context.config()
    job_id = None
    if at is not None and chat is not None:
        job_id = f"crophub-wait-{hashlib.sha1(chat.encode()).hexdigest()[:16]}-{int(at.timestamp())}"
    try:
        jobs.enqueue(context.outbox_queue(), jobs.SEND, outbox_ids, timeout=cfg.job_timeout,
                     retry=cfg.retry_intervals, at=at, job_id=job_id)
    except Exception as exc:  # the rows are stored: the sweep will enqueue them again
        log.error("outbox: could not enqueue %d reply(ies): %s; the sweep will retry", len(outbox_ids), exc)


def send_outbox(outbox_ids: list[int]) -> dict[str, int]:
    """Job: send the pending replies among `outbox_ids`; raises (so RQ retries) if a chat was busy elsewhere."""
    with db.session() as session:
        chats = ops.outbox_chats(session, outbox_ids)
    if not chats:
        return {"sent": 0}
    # Leave time to record outcomes before RQ's own timeout stops the job.
    sent, waiting = aio.run(_deliver(chats), timeout=context.config().job_timeout * 0.9)
    if waiting:
        raise RuntimeError(f"outbox: {waiting} chat(s) must be retried later (sent {sent})")
    return {"sent": sent}


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Seconds between tries to store outcomes while the database does not answer (about 45 s in all).
RECORD_WAITS = (1, 2, 4, 8, 15, 15)
METRICS_KEY = "crophub:metrics:outbox"  # per channel: attempts, rate_limited, sent, failed (read by /metrics)
_pace: Pace | None = None


def _lock_key(chat: str) -> str:
    return f"crophub:chat-lock:{chat}"


def pace() -> Pace:
    """This process's shared sending pace (outbox.rates), on the router's Redis."""
    global _pace
    conn, rates = context.redis(), context.config().send_rates
    if _pace is None or _pace.conn is not conn or _pace.rates != rates:
        _pace = Pace(conn, rates)
    return _pace


@dataclass
class Tried:
    """What one try of one reply did: the outbox columns to update (no status: still pending), when it may be
    tried again, and the API calls it took."""

    change: dict[str, Any]
    channel: str
    due: datetime | None = None
    calls: int = 0
    rate_limited: int = 0


class _Recorder:
    """Stores send outcomes as they come: replies that finish together share one transaction (a group commit),
    so each sent reply is on record a moment after its API call, and a crash can repeat one reply at most."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.queued: list[Tried] = []
        self.turn = asyncio.Lock()
        self.release = context.redis().register_script(_RELEASE)

    async def record(self, outcome: Tried) -> None:
        """Store one reply's outcome (with whatever else is waiting)."""
        self.queued.append(outcome)
        async with self.turn:
            batch, self.queued = self.queued, []
            if batch:  # else the writer before us took ours along
                # In a thread: while it waits for the database, the loop goes on sending and queueing.
                await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[Tried]) -> None:
        # A reply already sent must get on record: one that is not would be sent again once its lease is
        # over. So a database that stops answering (a restart, a failover) is waited for, within the job's time.
        waits = iter(RECORD_WAITS)
        while True:
            try:
                with db.session() as session:
                    ops.mark_outboxes(session, [o.change for o in batch])
                break
            except Exception as exc:
                wait = next(waits, None)
                if wait is None or not db.unavailable(exc):
                    raise
                log.warning("outbox: %d outcome(s) not stored yet (%s); trying again in %ds", len(batch),
                            type(exc).__name__, wait)
                time.sleep(wait)
        self.count(batch)

    def count(self, batch: list[Tried]) -> None:
        """Add the outcomes to the send counters /metrics shows (a lost count must not fail a send)."""
        tally: Counter[str] = Counter()
        for o in batch:
            channel = o.channel
            tally[f"attempts:{channel}"] += o.calls
            tally[f"rate_limited:{channel}"] += o.rate_limited
            if o.change.get("status"):
                tally[f"{o.change['status']}:{channel}"] += 1
        try:
            pipe = context.redis().pipeline(transaction=False)
            for field, n in tally.items():
                if n:
                    pipe.hincrby(METRICS_KEY, field, n)
            pipe.execute()
        except RedisError as exc:
            log.info("outbox: send counters not updated: %s", exc)

    def free(self, chats: list[str]) -> None:
        """Release these chats' locks (only if still ours); if Redis is gone, they expire on their own."""
        try:
            pipe = context.redis().pipeline(transaction=False)
            for chat in chats:
                self.release(keys=[_lock_key(chat)], args=[self.token], client=pipe)
            pipe.execute()
        except RedisError as exc:  # the outcomes are stored: nothing will be sent twice
            log.warning("outbox: could not release %d chat lock(s): %s; they expire by themselves", len(chats), exc)


async def _deliver(chats: dict[str, int]) -> tuple[int, int]:
    """Send each chat's pending replies in order, chats concurrently; returns (sent, chats to retry)."""
    cfg = context.config()
    conn = context.redis()
    token = uuid.uuid4().hex
    recorder = _Recorder(token)
    loop = asyncio.get_running_loop()
    start = loop.time()
    lease = cfg.job_timeout + 60
    todo, sent, waiting = dict(chats), 0, 0
    while todo:
        # One lock per chat, so replies to a chat keep their order across workers. It outlives the job,
        # so it cannot expire while this job may still send in its chat.
        pipe = conn.pipeline(transaction=False)
        for chat in todo:
            pipe.set(_lock_key(chat), token, nx=True, px=lease * 1000)
        locked = [chat for chat, ok in zip(todo, pipe.execute()) if ok]
        if locked:
            try:
                # Taken in the database too: should Redis lose the lock (a restart), another worker that gets
                # the chat finds these replies taken and leaves them alone.
                with db.session() as session:
                    taken = ops.claim_outbox(session, {chat: todo[chat] for chat in locked},
                                             utcnow() + timedelta(seconds=lease))
            except Exception:
                recorder.free(locked)
                raise
            try:
                results = await asyncio.gather(*(_send_chat(chat, todo[chat], *taken[chat], recorder, start)
                                                 for chat in locked))
            finally:  # whatever happened, the rows stay taken until their lease ends: nobody sends them twice
                recorder.free(locked)
            for chat, count in zip(locked, results):
                sent += count
                del todo[chat]
        if todo:
            if loop.time() - start > cfg.lock_wait:
                log.info("outbox: %d chat(s) busy in another worker; retrying later", len(todo))
                return sent, waiting + len(todo)
            await asyncio.sleep(0.02)
    return sent, waiting


async def _send_chat(chat: str, up_to: int, rows: list[Outbox], due: datetime | None, recorder: _Recorder,
                     start: float) -> int:
    """Send one chat's taken rows oldest first, recording each outcome as it comes; → replies sent."""
    sent = 0
    for k, row in enumerate(rows):
        outcome = await _send_one(row, start)
        await recorder.record(outcome)
        if outcome.due is not None:  # later replies must not overtake this one: give them back
            rest = [{"id": r.id, "not_before": None} for r in rows[k + 1:]]
            if rest:
                await asyncio.to_thread(_give_back, rest)
            due = outcome.due
            break
        sent += outcome.change.get("status") == "sent"
    if due is not None:
        # One job for when the chat may go on (a retry's time, a 429's end, another sender's lease): every
        # visit before then finds the chat waiting and replaces that job instead of adding another.
        enqueue_send([up_to], at=due, chat=chat)
    return sent


def _give_back(changes: list[dict[str, Any]]) -> None:
    with db.session() as session:
        ops.mark_outboxes(session, changes)


def _cut(text: str, limit: int | None) -> str:
    """`text` cut to what the channel accepts (a refused reply helps nobody; its end matters least)."""
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "…"


async def _send_one(row: Outbox, start: float) -> Tried:
    """Try one reply, once: an attempt is one real API call (a 429 is not one); → its outcome."""
    cfg = context.config()
    loop = asyncio.get_running_loop()
    max_attempts = len(cfg.retry_intervals) + 1
    attempts = row.attempts + 1
    cleared: dict[str, Any] | None = None
    calls = limited = 0

    def waits(seconds: float, error: str | None) -> Tried:
        due = utcnow() + timedelta(seconds=seconds)
        return Tried({"id": row.id, "attempts": row.attempts, "last_error": error, "updated_at": utcnow(),
                      "not_before": due}, row.channel, due, calls, limited)

    if window.hours(row.channel) is not None and await asyncio.to_thread(window.closed, row):
        log.info("outbox: reply %d held: %s", row.id, window.reason(row.channel))
        notice = await asyncio.to_thread(window.notice, row)
        if notice is not None:  # sent after this chat's turn, by its own job
            log.info("outbox: reply %d: the citizen is told by the channel's template (reply %d)", row.id, notice)
            enqueue_send([notice])
        return Tried(_change(row, row.attempts, window.reason(row.channel), window.HELD), row.channel)
    while True:
        try:
            sender = registry.get(row.channel)
            address = Address(**row.address)
            wait = _admit(row.channel, row.chat_key, bool(getattr(sender, "is_group", _never)(address)))
            if wait > 0:
                budget = cfg.job_timeout * 0.5 - (loop.time() - start)
                if wait > min(cfg.max_retry_after, budget):
                    log.info("outbox: %s paced; reply %d waits %.0fs", row.channel, row.id, wait)
                    return waits(wait, row.last_error)
                await asyncio.sleep(wait)
                continue
            text, extras = _cut(row.text, getattr(sender, "max_text", None)), row.extras
            if extras and extras.get("buttons") and not registry.offers(row.channel, "buttons"):
                text = with_menu(text, extras, address)
            if extras and extras.get("clear_buttons_of"):
                # The reply whose buttons go was sent before this one (one chat's replies go in order).
                target = await asyncio.to_thread(_provider_id, extras["clear_buttons_of"])
                if target is None:  # never sent (or refused): no buttons to remove
                    return Tried({**_change(row, attempts, None, "sent"), "sent_at": utcnow()}, row.channel)
                extras = {**extras, "clear_buttons": target}
                cleared = extras  # kept with the row: the web chat reads which message lost its buttons
            if extras and extras.get("photo"):
                extras = {**extras, "photo": await _shown_photo(row, address, extras["photo"])}
            calls += 1
            # The call's start: the provider stamps the message within the call, and a watermark receipt (Messenger:
            # "read up to") covers what was sent before it, so the start, not the answer, is when it was sent.
            begun = utcnow()
            provider_id = await sender.send(address, text, extras)
        except RateLimited as exc:
            limited += 1  # a 429 is not a failed attempt (row.attempts counts errors only)
            _pause(row.channel, exc.retry_after)  # every worker waits, not only this chat
            budget = cfg.job_timeout * 0.5 - (loop.time() - start)
            if exc.retry_after <= min(cfg.max_retry_after, budget):
                # Wait a short one out right here, holding the chat's lock, so order is kept.
                log.info("outbox: %s rate limited; waiting %.1fs", row.channel, exc.retry_after)
                continue
            log.warning("outbox: %s rate limited for %.0fs; reply %d waits", row.channel, exc.retry_after, row.id)
            return waits(exc.retry_after, str(exc))
        except PermanentError as exc:
            log.warning("outbox: reply %d refused for good: %s", row.id, exc)
            return Tried(_change(row, attempts, str(exc), "failed"), row.channel, None, calls, limited)
        except Exception as exc:  # network trouble, a server error, a bug in a sender
            error = f"{type(exc).__name__}: {exc}"
        else:
            sent = {**_change(row, attempts, None, "sent"), "provider_message_id": provider_id, "sent_at": begun}
            return Tried({**sent, "extras": cleared} if cleared else sent, row.channel, None, calls, limited)
        if attempts >= max_attempts:
            log.error("outbox: reply %d failed after %d attempts: %s", row.id, attempts, error)
            return Tried(_change(row, attempts, error, "failed"), row.channel, None, calls, limited)
        interval = cfg.retry_intervals[attempts - 1]
        log.warning("outbox: reply %d not sent (attempt %d of %d, next in %ds): %s", row.id, attempts, max_attempts,
                    interval, error)
        due = utcnow() + timedelta(seconds=interval)
        return Tried({"id": row.id, "attempts": attempts, "last_error": error, "updated_at": utcnow(),
                      "not_before": due}, row.channel, due, calls, limited)


def _never(_address: Address) -> bool:
    return False


def _admit(channel: str, chat_key: str, group: bool) -> float:
    """Seconds this send must wait for the channel's pace (0: go); without Redis, it goes unpaced."""
    try:
        return pace().admit(channel, chat_key, group)
    except RedisError as exc:
        log.info("outbox: pace not checked (%s); sending", exc)
        return 0.0


def _pause(channel: str, seconds: float) -> None:
    try:
        pace().pause(channel, seconds)
    except RedisError as exc:
        log.info("outbox: %s pause not shared (%s)", channel, exc)


def _provider_id(dedupe_key: str) -> str | None:
    with db.factory()() as session:
        return ops.provider_ids(session, [dedupe_key]).get(dedupe_key)


async def _shown_photo(row: Outbox, address: Address, photo: str) -> str | bytes | None:
    """What the channel can show of a photo: the bytes of one kept here (to a channel that uploads), a public URL,
    or the channel's own file id when it holds it (a Telegram file id is valid only for the bot that received it);
    None when it cannot show it (the reply goes without)."""
    ref = MediaRef.find(photo)
    if ref is None or ref.kind == "gone":
        return None
    if ref.kind == "kept":
        return await asyncio.to_thread(_photo_bytes, photo, row.id) if registry.offers(row.channel, "uploads") else photo
    if ref.kind == "url":
        return ref.id
    return ref.id if (ref.channel, ref.holder) == (address.channel, address.bot or "") else None


def _photo_bytes(ref: str, outbox_id: int) -> bytes | None:
    """A photo kept here, as bytes for a channel that uploads them (a Telegram file id would mean nothing)."""
    with db.factory()() as session:
        found = media.load(session, ref)
    if found is None:  # the reply still goes, without it
        log.warning("outbox: reply %d names photo %s, which is not stored", outbox_id, ref)
    return found[0] if found else None


def _change(row: Outbox, attempts: int, error: str | None, status: str) -> dict[str, Any]:
    return {"id": row.id, "status": status, "attempts": attempts, "last_error": error, "updated_at": utcnow(),
            "not_before": None}
