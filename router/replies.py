"""The durable outbox: replies are stored rows first, then sent by a job, in order per chat."""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from rq import Retry
from sqlalchemy.orm import Session

from bots import aio, registry
from bots.errors import PermanentError, RateLimited
from ingest.intake import SEND_JOB
from ingest.message import Address
from router import context
from store import db, ops
from store.models import Outbox, utcnow

log = logging.getLogger(__name__)


def reply(address: Address, text: str, dedupe_key: str, ticket_id: int | None = None,
          inbound_id: int | None = None) -> dict[str, Any]:
    """An outbox row for `text` to `address`; dedupe_key names the event it answers (one reply each)."""
    return {"dedupe_key": dedupe_key, "channel": address.channel, "chat_key": address.chat_key,
            "address": address.model_dump(mode="json"), "text": text, "ticket_id": ticket_id, "inbound_id": inbound_id}


def store(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Store replies in the caller's transaction; returns the ids of those not stored before."""
    return ops.add_outboxes(session, rows)


def enqueue_send(outbox_ids: list[int]) -> None:
    """Enqueue a send job for stored replies (after their transaction has committed)."""
    if not outbox_ids:
        return
    intervals = context.config().retry_intervals
    try:
        context.outbox_queue().enqueue(
            SEND_JOB, outbox_ids, retry=Retry(max=len(intervals), interval=intervals), result_ttl=0,
            failure_ttl=7 * 86400,
        )
    except Exception as exc:  # the rows are stored: the sweep will enqueue them again
        log.error("outbox: could not enqueue %d reply(ies): %s; the sweep will retry", len(outbox_ids), exc)


def send_outbox(outbox_ids: list[int]) -> dict[str, int]:
    """Job: send the pending replies among `outbox_ids`; raises (so RQ retries) if any must wait."""
    with db.session() as session:
        chats = ops.outbox_chats(session, outbox_ids)
    if not chats:
        return {"sent": 0}
    sent, waiting = aio.run(_deliver(chats))
    if waiting:
        raise RuntimeError(f"outbox: {waiting} chat(s) must be retried later (sent {sent})")
    return {"sent": sent}


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


async def _deliver(chats: dict[str, int]) -> tuple[int, int]:
    """Send each chat's pending replies in order, chats concurrently; returns (sent, chats to retry)."""
    cfg = context.config()
    conn = context.redis()
    token = uuid.uuid4().hex
    release = conn.register_script(_RELEASE)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cfg.lock_wait
    todo, sent, waiting = dict(chats), 0, 0
    while todo:
        # One lock per chat, so replies to a chat keep their order across workers.
        pipe = conn.pipeline(transaction=False)
        for chat in todo:
            pipe.set(f"crophub:chat-lock:{chat}", token, nx=True, px=int((cfg.lock_wait + 120) * 1000))
        locked = [chat for chat, ok in zip(todo, pipe.execute()) if ok]
        if locked:
            try:
                # Read inside the locks: another worker may have sent some of these meanwhile.
                with db.session() as session:
                    rows = ops.pending_in_chats(session, {chat: todo[chat] for chat in locked})
                results = await asyncio.gather(*(_send_rows(rows[chat]) for chat in locked))
                with db.session() as session:
                    ops.mark_outboxes(session, [change for changes, _ in results for change in changes])
            finally:
                pipe = conn.pipeline(transaction=False)
                for chat in locked:
                    release(keys=[f"crophub:chat-lock:{chat}"], args=[token], client=pipe)
                pipe.execute()
            for chat, (changes, again) in zip(locked, results):
                sent += sum(c.get("status") == "sent" for c in changes)
                waiting += again
                del todo[chat]
        if todo:
            if loop.time() > deadline:
                log.info("outbox: %d chat(s) busy in another worker; retrying later", len(todo))
                return sent, waiting + len(todo)
            await asyncio.sleep(0.02)
    return sent, waiting


async def _send_rows(rows: list[Outbox]) -> tuple[list[dict[str, Any]], bool]:
    """Send one chat's rows oldest first; stop at one that must wait, so none overtakes it."""
    changes = []
    for row in rows:
        change = await _send_one(row.id, row.channel, Address(**row.address), row.text, row.attempts)
        changes.append(change)
        if "status" not in change:
            return changes, True
    return changes, False


async def _send_one(outbox_id: int, channel: str, address: Address, text: str, attempts: int) -> dict[str, Any]:
    """Try one reply; return the outbox columns to update (no status: still pending, retry later)."""
    cfg = context.config()
    max_attempts = len(cfg.retry_intervals) + 1
    while True:
        attempts += 1
        try:
            provider_id = await registry.get(channel).send(address, text)
        except RateLimited as exc:
            if exc.retry_after <= cfg.max_retry_after:
                # Honour retry_after right here, holding the chat's lock, so order is kept.
                log.info("outbox: %s rate limited; waiting %.1fs", channel, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
                continue
            error = str(exc)
        except PermanentError as exc:
            log.warning("outbox: reply %d refused for good: %s", outbox_id, exc)
            return {"id": outbox_id, "status": "failed", "attempts": attempts, "last_error": str(exc)}
        except Exception as exc:  # network trouble, a server error, a bug in a sender
            log.warning("outbox: reply %d not sent (attempt %d): %s", outbox_id, attempts, exc)
            error = f"{type(exc).__name__}: {exc}"
        else:
            return {"id": outbox_id, "status": "sent", "attempts": attempts, "provider_message_id": provider_id,
                    "sent_at": utcnow(), "last_error": None}
        if attempts >= max_attempts:
            log.error("outbox: reply %d failed after %d attempts: %s", outbox_id, attempts, error)
            return {"id": outbox_id, "status": "failed", "attempts": attempts, "last_error": error}
        return {"id": outbox_id, "attempts": attempts, "last_error": error}
