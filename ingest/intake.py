"""The intake: persist what a channel received (deduplicated), then enqueue it for the router."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from rq import Queue, Retry
from sqlalchemy.orm import Session, sessionmaker

from ingest.message import Message
from store import media, ops

log = logging.getLogger(__name__)

INTAKE_QUEUE = "crophub-intake"
OUTBOX_QUEUE = "crophub-outbox"
CROP_QUEUE = "crophub-crop"  # tickets the sweep offers to officers again, SLA checks
# Jobs are enqueued by dotted name, so producers never import their consumers.
PROCESS_JOB = "router.pipeline.process_inbound"
SEND_JOB = "router.replies.send_outbox"
DISPATCH_JOB = "router.crop.dispatch_tickets"
SLA_JOB = "router.sla.check_ticket"
PROCESS_RETRY = Retry(max=3, interval=[1, 10, 60])
JOB_SIZE = 500  # messages per pipeline job at most


@dataclass(frozen=True)
class Skipped:
    """A payload kept for inspection but not processed: an unsupported kind, or malformed input."""

    channel: str
    key: str
    status: Literal["ignored", "rejected"]
    reason: str
    raw: Any


@dataclass
class Batch:
    """What one poll or webhook call delivered, stored in one transaction with the listener's cursor."""

    messages: list[Message] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    cursor: tuple[str, str] | None = None

    def add(self, item: Message | Skipped) -> None:
        """Add a parsed message or a skipped payload."""
        (self.messages if isinstance(item, Message) else self.skipped).append(item)


def payload_key(raw: Any) -> str:
    """An idempotency key for a payload that carries none of its own (a malformed one)."""
    blob = json.dumps(raw, sort_keys=True, default=str).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


class Intake:
    """Persist-then-enqueue: a channel may acknowledge a payload once accept() has returned."""

    def __init__(self, sessions: sessionmaker[Session], queue: Queue, job_timeout: int = 120) -> None:
        self.sessions = sessions
        self.queue = queue
        self.job_timeout = job_timeout

    def accept(self, batch: Batch) -> list[int]:
        """Store a batch (replays skipped) and its cursor in one transaction; enqueue the new messages."""
        with self.sessions.begin() as session:
            ids = self.store(session, batch)
        self.enqueue(ids)
        return ids

    def store(self, session: Session, batch: Batch) -> list[int]:
        """Store a batch and its cursor in the caller's transaction (which must enqueue the ids once it
        has committed); → ids of the new messages."""
        now = datetime.now(timezone.utc)
        rows: list[dict[str, Any]] = [
            {"channel": m.channel, "key": m.key, "status": "received", "message": m.stored(),
             "raw": m.raw, "received_at": m.received_at}
            for m in batch.messages
        ]
        for s in batch.skipped:
            # Rejected payloads are logged with their reason and kept; ignored kinds only named.
            level = logging.WARNING if s.status == "rejected" else logging.INFO
            log.log(level, "%s: %s payload %s: %s", s.channel, s.status, s.key, s.reason)
            raw = s.raw if isinstance(s.raw, dict) else {"payload": s.raw}
            rows.append({"channel": s.channel, "key": s.key, "status": s.status, "reason": s.reason,
                         "message": None, "raw": raw, "received_at": now})
        # A message's photos are kept before the message that names them.
        media.keep(session, {ref: data for m in batch.messages for ref, data in m.blobs.items()})
        # Two copies of one payload in the same batch would collide inside one INSERT.
        unique = list({(r["channel"], r["key"]): r for r in rows}.values())
        ids = ops.save_inbound(session, unique)
        if batch.cursor:
            ops.set_cursor(session, *batch.cursor)
        return ids

    def enqueue(self, ids: list[int]) -> None:
        """Hand stored messages to the router; a failure here is repaired by the sweeper, not lost."""
        if not ids:
            return
        try:
            # A job per JOB_SIZE messages: one job (one transaction) for a whole big poll could outlive its
            # timeout, and on SQLite it would hold the write lock from every other worker meanwhile.
            for start in range(0, len(ids), JOB_SIZE):
                self.queue.enqueue(PROCESS_JOB, ids[start:start + JOB_SIZE], retry=PROCESS_RETRY,
                                   job_timeout=self.job_timeout, result_ttl=0, failure_ttl=7 * 86400)
        except Exception as exc:  # the rows are stored: the periodic sweep re-enqueues them
            log.error("intake: stored %d message(s) but could not enqueue them (%s); the sweep will retry",
                      len(ids), exc)

    def cursor(self, name: str) -> str | None:
        """A listener's saved resume point."""
        with self.sessions.begin() as session:
            return ops.get_cursor(session, name)
