"""The durable outbox: replies are stored rows first, then sent by a job, in order per chat."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from redis.exceptions import LockError
from rq import Retry
from sqlalchemy.orm import Session

from bots import aio, registry
from bots.errors import PermanentError, RateLimited
from ingest.intake import SEND_JOB
from ingest.message import Address
from router import context
from store import db, ops
from store.models import utcnow

log = logging.getLogger(__name__)


def queue_reply(
    session: Session, address: Address, text: str, dedupe_key: str, ticket_id: int | None = None,
    inbound_id: int | None = None,
) -> int | None:
    """Store a reply in the caller's transaction; None when this event already has its reply."""
    return ops.add_outbox(
        session, dedupe_key=dedupe_key, channel=address.channel, chat_key=address.chat_key,
        address=address.model_dump(mode="json"), text=text, ticket_id=ticket_id, inbound_id=inbound_id,
    )


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
    results = aio.run(_send_chats(chats))
    sent = sum(n for n, _ in results)
    waiting = [chat for (_, again), chat in zip(results, chats) if again]
    if waiting:
        raise RuntimeError(f"outbox: {len(waiting)} chat(s) must be retried later (sent {sent})")
    return {"sent": sent}


async def _send_chats(chats: dict[str, int]) -> list[tuple[int, bool]]:
    return list(await asyncio.gather(*(_send_chat(chat, up_to) for chat, up_to in chats.items())))


async def _send_chat(chat_key: str, up_to: int) -> tuple[int, bool]:
    """Send one chat's pending replies, oldest first, under a lock so order holds across workers."""
    cfg = context.config()
    lock = context.redis().lock(f"crophub:chat-lock:{chat_key}", timeout=cfg.lock_wait + 120)
    deadline = asyncio.get_running_loop().time() + cfg.lock_wait
    while not lock.acquire(blocking=False):
        if asyncio.get_running_loop().time() > deadline:
            return 0, True
        await asyncio.sleep(0.02)
    try:
        # Read inside the lock: another worker may have sent some of these while we waited.
        with db.session() as session:
            rows = ops.pending_in_chat(session, chat_key, up_to)
        sent = 0
        for row in rows:
            outcome = await _send_one(row.id, row.channel, Address(**row.address), row.text, row.attempts)
            if outcome == "retry":
                return sent, True  # stop here: later replies must not overtake this one
            sent += outcome == "sent"
        return sent, False
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("outbox: lock on %s expired before release", chat_key)


async def _send_one(outbox_id: int, channel: str, address: Address, text: str, attempts: int) -> str:
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
            return _record(outbox_id, attempts, max_attempts, str(exc))
        except PermanentError as exc:
            log.warning("outbox: reply %d refused for good: %s", outbox_id, exc)
            _mark(outbox_id, status="failed", attempts=attempts, last_error=str(exc))
            return "failed"
        except Exception as exc:  # network trouble, a server error, a bug in a sender
            log.warning("outbox: reply %d not sent (attempt %d): %s", outbox_id, attempts, exc)
            return _record(outbox_id, attempts, max_attempts, f"{type(exc).__name__}: {exc}")
        _mark(outbox_id, status="sent", attempts=attempts, provider_message_id=provider_id, sent_at=utcnow(),
              last_error=None)
        return "sent"


def _record(outbox_id: int, attempts: int, max_attempts: int, error: str) -> str:
    if attempts >= max_attempts:
        log.error("outbox: reply %d failed after %d attempts: %s", outbox_id, attempts, error)
        _mark(outbox_id, status="failed", attempts=attempts, last_error=error)
        return "failed"
    _mark(outbox_id, attempts=attempts, last_error=error)
    return "retry"


def _mark(outbox_id: int, **values: Any) -> None:
    with db.session() as session:
        ops.mark_outbox(session, outbox_id, **values)
