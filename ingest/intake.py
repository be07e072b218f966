"""The intake: persist what a channel received (deduplicated), then enqueue it for the router."""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from rq import Queue
from sqlalchemy.orm import Session, sessionmaker

from ingest import jobs
from ingest.jobs import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE  # noqa: F401 (where callers have long found them)
from ingest.message import Message, Receipt
from store import db, media, ops, storable
from store import receipts as receipts_store

log = logging.getLogger(__name__)

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
        if isinstance(item, Message):
            self.messages.append(item)
        else:
            self.skipped.append(item)


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

    def receipts(self, channel: str, receipts: list[Receipt]) -> int:
        """Keep what the channel reports about replies it was given (store/receipts.py); → replies changed."""
        if not receipts:
            return 0
        with self.sessions.begin() as session:
            return sum(receipts_store.record(session, channel, r.provider_id, r.status, r.at, r.error, chat_key=r.chat_key,
                                             up_to=r.up_to) for r in receipts)

    def store(self, session: Session, batch: Batch) -> list[int]:
        """Store a batch and its cursor in the caller's transaction (which must enqueue the ids once it
        has committed); → ids of the new messages. What the database refuses is kept as rejected, with its
        reason, and the rest is stored: one bad payload never holds the cursor back."""
        now = datetime.now(timezone.utc)
        pending = [_message_row(m) for m in batch.messages] + [_skipped_row(s, now) for s in batch.skipped]
        # A message's photos are kept before the message that names them.
        keys = {(r.row["channel"], r.row["key"]) for r in pending if r.row["status"] == "received"}
        media.keep(session, {ref: data for m in batch.messages if (m.channel, storable.fit_key(m.key)) in keys
                             for ref, data in m.blobs.items()})
        # Two copies of one payload in the same batch would collide inside one INSERT.
        unique = list({(p.row["channel"], p.row["key"]): p for p in pending}.values())
        ids = _save(session, unique)
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
                jobs.enqueue(self.queue, jobs.PROCESS, ids[start:start + JOB_SIZE], timeout=self.job_timeout)
        except Exception as exc:  # the rows are stored: the periodic sweep re-enqueues them
            log.error("intake: stored %d message(s) but could not enqueue them (%s); the sweep will retry",
                      len(ids), exc)

    def cursor(self, name: str) -> str | None:
        """A listener's saved resume point."""
        with self.sessions.begin() as session:
            return ops.get_cursor(session, name)


@dataclass(frozen=True)
class _Row:
    """A row to insert, and the payload it came from (kept as text if the row cannot be stored as it is)."""

    row: dict[str, Any]
    original: Any


def _message_row(m: Message) -> _Row:
    """A parsed message as a storable row: cleaned text, a key that fits; refused if it carries a bad number."""
    try:
        parsed = m.stored()
        message, message_changed = storable.storable(parsed)
        raw, raw_changed = storable.storable(m.raw)
    except RecursionError:
        return _Row(_refused(m.channel, m.key, "payload nested too deep to store", m.raw, m.received_at), m.raw)
    # A number that is not finite (a location's accuracy of 1e400) is refused, not repaired: it was meant to
    # say where or how precisely, and a ticket placed on a guess is worse than a report kept for inspection.
    # Text is cleaned instead (a lone surrogate, a NUL): one broken character does not change what a citizen
    # reported, and refusing the report for it would lose a flood over a half emoji.
    bad = _non_finite(parsed)
    if bad:  # kept as text: the raw payload, or the parsed message for a channel that keeps no raw form
        return _Row(_refused(m.channel, m.key, f"not storable: {bad} is not a finite number", m.raw or parsed,
                             m.received_at), m.raw)
    row = {"channel": m.channel, "key": storable.fit_key(m.key), "status": "received", "message": message,
           "raw": raw, "received_at": m.received_at}
    if raw_changed or message_changed or row["key"] != m.key:
        # What came is kept as text: the raw payload, or the parsed message when only that changed.
        row["raw_text"] = storable.original_text(m.raw if raw_changed or not message_changed else parsed)
    return _Row(row, m.raw)


def _skipped_row(s: Skipped, now: datetime) -> _Row:
    """A skipped payload as a storable row."""
    reason = storable.clean_text(s.reason)
    # Rejected payloads are logged with their reason and kept; ignored kinds only named.
    level = logging.WARNING if s.status == "rejected" else logging.INFO
    log.log(level, "%s: %s payload %s: %s", s.channel, s.status, storable.clean_text(s.key)[:300], reason)
    raw = s.raw if isinstance(s.raw, dict) else {"payload": s.raw}
    row: dict[str, Any] = {"channel": s.channel, "key": storable.fit_key(s.key), "status": s.status,
                           "reason": reason[:2000], "message": None, "received_at": now}
    try:
        row["raw"], changed = storable.storable(raw)
    except RecursionError:
        row["raw"], changed = None, True
    if changed or row["key"] != s.key:
        row["raw_text"] = storable.original_text(s.raw)
    return _Row(row, s.raw)


def _refused(channel: str, key: str, reason: str, original: Any, received_at: datetime) -> dict[str, Any]:
    """A rejected row for a payload that cannot be stored as it came: its reason, and the payload as text."""
    log.warning("%s: rejected payload %s: %s", channel, storable.clean_text(key)[:300], reason)
    return {"channel": channel, "key": storable.fit_key(key), "status": "rejected",
            "reason": storable.clean_text(reason)[:2000], "message": None, "raw": None,
            "raw_text": storable.original_text(original), "received_at": received_at}


def _non_finite(value: Any, path: str = "") -> str | None:
    """Where the first number that is not finite sits in a parsed message (e.g. "location.accuracy_m"), if any."""
    if isinstance(value, float) and not math.isfinite(value):
        return path or "value"
    if isinstance(value, dict):
        found = (_non_finite(v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
    elif isinstance(value, list):
        found = (_non_finite(v, f"{path}[{i}]") for i, v in enumerate(value))
    else:
        return None
    return next((f for f in found if f), None)


def _save(session: Session, rows: list[_Row]) -> list[int]:
    """Insert rows in one statement; if the database refuses it, one by one, keeping each refused one as
    rejected with its reason. Each try is a savepoint, so a refusal leaves the caller's transaction usable."""
    try:
        with session.begin_nested():
            return ops.save_inbound(session, [r.row for r in rows])
    except Exception as exc:
        if db.unavailable(exc):
            raise  # the database is down or busy: the listener retries the whole batch, nothing is lost
        log.warning("intake: a batch of %d payload(s) could not be stored (%s); storing them one by one",
                    len(rows), db.reason(exc))
    ids: list[int] = []
    for r in rows:
        try:
            with session.begin_nested():
                ids += ops.save_inbound(session, [r.row])
        except Exception as exc:
            if db.unavailable(exc):
                raise
            refused = _refused(r.row["channel"], r.row["key"], f"not storable: {db.reason(exc)}", r.original,
                               r.row["received_at"])
            with session.begin_nested():  # cleaned and without its payload: if even this fails, the batch does
                ops.save_inbound(session, [refused])
    return sorted(ids)
