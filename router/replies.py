"""The durable outbox: replies are stored rows first, then sent by a job, in order per chat."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from rq import Retry
from sqlalchemy.orm import Session

from bots import aio, registry
from bots.errors import PermanentError, RateLimited
from ingest.intake import SEND_JOB
from ingest.message import Address
from router import context
from store import db, media, ops
from store.models import Outbox, utcnow

log = logging.getLogger(__name__)


def reply(address: Address, text: str, dedupe_key: str, ticket_id: int | None = None,
          inbound_id: int | None = None, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """An outbox row for `text` to `address`; dedupe_key names the event it answers (one reply each).

    `extras` is what a channel shows beside the text (store/models.py's Outbox.extras)."""
    return {"dedupe_key": dedupe_key, "channel": address.channel, "chat_key": address.chat_key,
            "address": address.model_dump(mode="json"), "text": text, "ticket_id": ticket_id,
            "inbound_id": inbound_id, "extras": extras}


def with_menu(text: str, extras: dict[str, Any], address: Address) -> str:
    """`text` with its buttons as a numbered menu, for channels that cannot show buttons (the router reads
    a bare number back as the button's value)."""
    from router.templates import render  # templates are the router's; only this fallback needs them

    labels = [b["label"] for row in extras["buttons"] for b in row]
    lang = "en" if extras.get("language") == "en" else "id"
    return text + "\n\n" + render("menu_hint", lang) + "\n" + "\n".join(f"{i}. {l}" for i, l in enumerate(labels, 1))


def store(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Store replies in the caller's transaction (none for silent channels); returns the ids of those not
    stored before."""
    return ops.add_outboxes(session, [r for r in rows if r["channel"] not in registry.SILENT])


def enqueue_send(outbox_ids: list[int], at: datetime | None = None, chat: str | None = None) -> None:
    """Enqueue a send job for stored replies (after their transaction has committed), now or at `at`.

    A job scheduled for a waiting chat gets an id from the chat and the time, so every job that finds
    the chat waiting replaces that one scheduled job instead of adding another."""
    if not outbox_ids:
        return
    cfg = context.config()
    options: dict[str, Any] = {
        "retry": Retry(max=len(cfg.retry_intervals), interval=cfg.retry_intervals),
        "job_timeout": cfg.job_timeout, "result_ttl": 0, "failure_ttl": 7 * 86400,
    }
    try:
        if at is None:
            context.outbox_queue().enqueue(SEND_JOB, outbox_ids, **options)
        else:
            if chat is not None:
                digest = hashlib.sha1(chat.encode()).hexdigest()[:16]
                options["job_id"] = f"crophub-wait-{digest}-{int(at.timestamp())}"
            context.outbox_queue().enqueue_at(at, SEND_JOB, outbox_ids, **options)
    except Exception as exc:  # the rows are stored: the sweep will enqueue them again
        log.error("outbox: could not enqueue %d reply(ies): %s; the sweep will retry", len(outbox_ids), exc)


def send_outbox(outbox_ids: list[int]) -> dict[str, int]:
    """Job: send the pending replies among `outbox_ids`; raises (so RQ retries) if any must wait."""
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


def _lock_key(chat: str) -> str:
    return f"crophub:chat-lock:{chat}"


class _Recorder:
    """Stores send outcomes as chats finish, then frees their locks: chats that finish together share
    one transaction (a group commit), and no lock is freed before its chat's outcomes are stored."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.queued: list[tuple[str, list[dict[str, Any]]]] = []
        self.turn = asyncio.Lock()
        self.release = context.redis().register_script(_RELEASE)

    async def record(self, chat: str, changes: list[dict[str, Any]]) -> None:
        """Store one chat's outcomes (with whatever else is waiting) and free its lock."""
        self.queued.append((chat, changes))
        async with self.turn:
            batch, self.queued = self.queued, []
            if not batch:
                return  # the writer before us took ours along
            # In a thread: while it waits for the database, the loop goes on sending and queueing.
            await asyncio.to_thread(self._write, batch)

    def _write(self, batch: list[tuple[str, list[dict[str, Any]]]]) -> None:
        with db.session() as session:
            ops.mark_outboxes(session, [change for _, chat_changes in batch for change in chat_changes])
        self.free([chat for chat, _ in batch])

    def free(self, chats: list[str]) -> None:
        """Release these chats' locks (only if still ours)."""
        pipe = context.redis().pipeline(transaction=False)
        for chat in chats:
            self.release(keys=[_lock_key(chat)], args=[self.token], client=pipe)
        pipe.execute()


async def _deliver(chats: dict[str, int]) -> tuple[int, int]:
    """Send each chat's pending replies in order, chats concurrently; returns (sent, chats to retry)."""
    cfg = context.config()
    conn = context.redis()
    token = uuid.uuid4().hex
    recorder = _Recorder(token)
    loop = asyncio.get_running_loop()
    start = loop.time()
    todo, sent, waiting = dict(chats), 0, 0
    while todo:
        # One lock per chat, so replies to a chat keep their order across workers. It outlives the job,
        # so it cannot expire while this job may still send in its chat.
        pipe = conn.pipeline(transaction=False)
        for chat in todo:
            pipe.set(_lock_key(chat), token, nx=True, px=(cfg.job_timeout + 60) * 1000)
        locked = [chat for chat, ok in zip(todo, pipe.execute()) if ok]
        if locked:
            try:
                # Read inside the locks: another worker may have sent some of these meanwhile.
                with db.session() as session:
                    rows = ops.pending_in_chats(session, {chat: todo[chat] for chat in locked})
            except Exception:
                recorder.free(locked)
                raise
            results = await asyncio.gather(*(_send_chat(chat, rows[chat], recorder, start) for chat in locked))
            for chat, (count, again) in zip(locked, results):
                sent += count
                waiting += again
                del todo[chat]
        if todo:
            if loop.time() - start > cfg.lock_wait:
                log.info("outbox: %d chat(s) busy in another worker; retrying later", len(todo))
                return sent, waiting + len(todo)
            await asyncio.sleep(0.02)
    return sent, waiting


async def _send_chat(chat: str, rows: list[Outbox], recorder: _Recorder, start: float) -> tuple[int, bool]:
    """Send one chat's rows oldest first and record the outcomes; → (sent, must retry)."""
    changes: list[dict[str, Any]] = []
    again = False
    for row in rows:
        if row.not_before and row.not_before > utcnow():
            # The channel asked us to wait: the job scheduled for then sends this chat's replies.
            enqueue_send([r.id for r in rows], at=row.not_before, chat=chat)
            break
        change = await _send_one(row, start)
        changes.append(change)
        if "status" not in change:
            if change["not_before"] is None:
                again = True  # RQ's Retry runs the job again
            else:  # a long wait gets its own job, scheduled for when the channel allows sending
                enqueue_send([r.id for r in rows], at=change["not_before"], chat=chat)
            break  # later replies must not overtake this one
    await recorder.record(chat, changes)
    return sum(c.get("status") == "sent" for c in changes), again


async def _send_one(row: Outbox, start: float) -> dict[str, Any]:
    """Try one reply; return the outbox columns to update (no status: still pending)."""
    cfg = context.config()
    loop = asyncio.get_running_loop()
    max_attempts = len(cfg.retry_intervals) + 1
    attempts = row.attempts + 1  # a 429 is not a failed attempt: only errors count
    cleared: dict[str, Any] | None = None
    while True:
        try:
            sender = registry.get(row.channel)
            text, extras = row.text, row.extras
            if extras and extras.get("buttons") and not getattr(sender, "buttons", False):
                text = with_menu(text, extras, Address(**row.address))
            if extras and extras.get("clear_buttons_of"):
                # The reply whose buttons go was sent before this one (one chat's replies go in order).
                target = await asyncio.to_thread(_provider_id, extras["clear_buttons_of"])
                if target is None:  # never sent (or refused): no buttons to remove
                    return {**_change(row.id, attempts, None, "sent"), "sent_at": utcnow()}
                extras = {**extras, "clear_buttons": target}
                cleared = extras  # kept with the row: the web chat reads which message lost its buttons
            if extras and media.is_ref(extras.get("photo")) and getattr(sender, "uploads", False):
                extras = {**extras, "photo": await asyncio.to_thread(_photo_bytes, extras["photo"], row.id)}
            provider_id = await sender.send(Address(**row.address), text, extras)
        except RateLimited as exc:
            budget = cfg.job_timeout * 0.5 - (loop.time() - start)
            if exc.retry_after <= min(cfg.max_retry_after, budget):
                # Wait a short one out right here, holding the chat's lock, so order is kept.
                log.info("outbox: %s rate limited; waiting %.1fs", row.channel, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
                continue
            log.warning("outbox: %s rate limited for %.0fs; reply %d waits", row.channel, exc.retry_after, row.id)
            return {"id": row.id, "attempts": row.attempts, "last_error": str(exc), "updated_at": utcnow(),
                    "not_before": utcnow() + timedelta(seconds=exc.retry_after)}
        except PermanentError as exc:
            log.warning("outbox: reply %d refused for good: %s", row.id, exc)
            return _change(row.id, attempts, str(exc), "failed")
        except Exception as exc:  # network trouble, a server error, a bug in a sender
            log.warning("outbox: reply %d not sent (attempt %d): %s", row.id, attempts, exc)
            error = f"{type(exc).__name__}: {exc}"
        else:
            sent = {**_change(row.id, attempts, None, "sent"), "provider_message_id": provider_id, "sent_at": utcnow()}
            return {**sent, "extras": cleared} if cleared else sent
        if attempts >= max_attempts:
            log.error("outbox: reply %d failed after %d attempts: %s", row.id, attempts, error)
            return _change(row.id, attempts, error, "failed")
        return {"id": row.id, "attempts": attempts, "last_error": error, "updated_at": utcnow(), "not_before": None}


def _provider_id(dedupe_key: str) -> str | None:
    with db.factory()() as session:
        return ops.provider_ids(session, [dedupe_key]).get(dedupe_key)


def _photo_bytes(ref: str, outbox_id: int) -> bytes | None:
    """A photo kept here, as bytes for a channel that uploads them (a Telegram file id would mean nothing)."""
    with db.factory()() as session:
        found = media.load(session, ref)
    if found is None:  # the reply still goes, without it
        log.warning("outbox: reply %d names photo %s, which is not stored", outbox_id, ref)
    return found[0] if found else None


def _change(outbox_id: int, attempts: int, error: str | None, status: str) -> dict[str, Any]:
    return {"id": outbox_id, "status": status, "attempts": attempts, "last_error": error, "updated_at": utcnow(),
            "not_before": None}
