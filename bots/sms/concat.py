"""A long SMS that the gateway delivers in parts (Vonage: concat "true", concat-ref, concat-total, concat-part, each
part with its own messageId, in any order), put back together before the router sees it.

Each part is stored as it comes, before the gateway is answered: an `ignored` row keyed by its own id (a redelivery
stores nothing new) whose reason says it waits for the rest. One sender's requests are stored one at a time (a
PostgreSQL advisory lock; SQLite writes one at a time anyway), so when the last part is stored its request sees
every other: one Message is stored, the parts' texts joined in part order, keyed by the sender, the reference and
the first part's id, and the parts' rows then name the message they joined. A redelivered part, or two last parts
at once, make no second message. A part whose siblings have not come within `sms.inbound.concat_wait` is not
lost: the sender's next SMS delivers the parts that came, joined (a gap marked "…"), before itself; a part that
comes after that is delivered the same way on its own."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from bots.sms.config import Fields
from bots.sms.parse import masked, parse
from ingest.intake import Batch, Intake, Skipped
from ingest.message import Message
from store.models import InboundMessage

log = logging.getLogger(__name__)

WAITING = "waiting for the rest of a long SMS"  # the reason of a part's row until its message is stored
GAP = " … "  # where a part that never came would have been
# How far back a sender's waiting parts are looked for: Vonage redelivers a part for a day; a part older than
# this stays stored as it is (its reason says so) and is joined with nothing.
LOOKBACK = timedelta(days=7)
_REF = re.compile(r"^[0-9A-Za-z]{1,16}$")


@dataclass(frozen=True)
class Part:
    """Where a message sits in a long SMS: the reference its parts share, how many there are, which one it is."""

    ref: str
    total: int
    number: int

    @property
    def group(self) -> str:
        """The parts of one long SMS of one sender share this."""
        return f"{self.ref}-{self.total}"


def part_of(msg: Message) -> Part | None:
    """The part of a long SMS `msg` is, if it is one; None for a whole SMS (or concat fields that cannot be read:
    then it is taken as a message of its own, not held back)."""
    raw = msg.raw
    if str(raw.get("concat", "")).strip().lower() != "true":
        return None
    ref = str(raw.get("concat-ref", "")).strip()
    try:
        total, number = int(str(raw.get("concat-total", ""))), int(str(raw.get("concat-part", "")))
    except ValueError:
        total = number = 0
    if not _REF.match(ref) or not 2 <= total <= 255 or not 1 <= number <= total:
        log.warning("sms: unreadable concat fields in %s (ref %r, part %r of %r): taken as a message of its own",
                    msg.key, ref[:20], raw.get("concat-part"), raw.get("concat-total"))
        return None
    return Part(ref, total, number)


def tag(msg: Message) -> str:
    """The sender (and the number written to) as a key may carry it: hashed, so no key or log line shows a number."""
    return hashlib.sha256(f"{msg.address.bot or ''}|{msg.sender.id}".encode()).hexdigest()[:16]


def accept(intake: Intake, item: Message | Skipped, fields: Fields, wait: float, now: datetime | None = None) -> list[int]:
    """Store one parsed inbound payload before it is answered, joining the parts of long SMS; → ids enqueued."""
    if isinstance(item, Skipped):
        return intake.accept(Batch(skipped=[item]))
    now = now or datetime.now(timezone.utc)
    part, who = part_of(item), tag(item)
    with intake.sessions.begin() as session:
        _lock(session, who)
        if part is not None:
            intake.store(session, Batch(skipped=[_waiting(item, part, who)]))
            log.info("sms: part %d of %d of a long SMS from %s stored", part.number, part.total, masked(item.sender.id))
        joined: list[Message] = []
        for rows, complete in _due(_waiting_rows(session, who, now), now, wait, part):
            message = _join(rows, fields)
            if message is None:
                continue
            joined.append(message)
            _mark(session, rows, message.key)
            if complete:
                log.info("sms: %d parts of a long SMS from %s joined as %s", len(rows), masked(item.sender.id),
                         message.key)
            else:
                log.warning("sms: %d part(s) of a long SMS from %s waited over %.0fs for the rest: delivered as %s, "
                            "with a gap", len(rows), masked(item.sender.id), wait, message.key)
        ids = intake.store(session, Batch(messages=joined))
        if part is None:  # after the parts it follows
            ids += intake.store(session, Batch(messages=[item]))
    intake.enqueue(ids)
    return ids


def _lock(session: Session, who: str) -> None:
    """Take one sender's requests one at a time, until the transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"crophub:sms:{who}".encode()).digest()[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _waiting(msg: Message, part: Part, who: str) -> Skipped:
    key = f"sms:part:{who}:{part.group}:{part.number}:{msg.provider_message_id}"
    return Skipped("sms", key, "ignored", f"part {part.number} of {part.total} (ref {part.ref}): {WAITING}", msg.raw)


@dataclass(frozen=True)
class _Row:
    id: int
    group: str
    number: int
    raw: dict[str, Any]
    received_at: datetime


def _waiting_rows(session: Session, who: str, now: datetime) -> list[_Row]:
    """The sender's stored parts that wait for the rest, oldest first."""
    found = session.execute(
        select(InboundMessage.id, InboundMessage.key, InboundMessage.raw, InboundMessage.received_at)
        .where(InboundMessage.status == "ignored", InboundMessage.received_at >= now - LOOKBACK,
               InboundMessage.channel == "sms", InboundMessage.key.like(f"sms:part:{who}:%"),
               InboundMessage.reason.like(f"%{WAITING}"))
        .order_by(InboundMessage.id))
    rows = []
    for id_, key, raw, received_at in found:
        _, _, _, group, number, _ = key.split(":", 5)
        at = received_at if received_at.tzinfo else received_at.replace(tzinfo=timezone.utc)
        rows.append(_Row(id_, group, int(number), raw or {}, at))
    return rows


def _due(rows: list[_Row], now: datetime, wait: float, arrived: Part | None) -> list[tuple[list[_Row], bool]]:
    """The groups of parts to deliver now, each as (its parts in order, whether it is whole): a whole long SMS,
    and the parts that waited too long when the sender writes anything but another part of theirs."""
    groups: dict[str, dict[int, _Row]] = {}
    for row in rows:
        groups.setdefault(row.group, {})[row.number] = row  # a number seen twice (a reused ref): the newest
    due = []
    for group, parts in groups.items():
        ordered = [parts[n] for n in sorted(parts)]
        if len(parts) == _total(group):
            due.append((ordered, True))
        elif (arrived is None or arrived.group != group) and \
                max(r.received_at for r in ordered) <= now - timedelta(seconds=wait):
            due.append((ordered, False))
    return due


def _join(rows: list[_Row], fields: Fields) -> Message | None:
    """One message from the parts, their texts joined as sent (a part may end or begin inside a word), a gap where
    a part is missing; keyed by the first part's id, which no other long SMS has."""
    first = parse(rows[0].raw, fields, rows[0].received_at)
    if not isinstance(first, Message):
        return None  # cannot happen for parts that were parsed once; they stay stored as they are
    joined, expected = "", 1
    for row in rows:
        piece = str(row.raw.get(fields.text) or "")
        if row.number != expected:
            joined, piece = joined.rstrip() + GAP, piece.lstrip()
        joined += piece
        expected = row.number + 1
    if expected <= _total(rows[0].group):
        joined = joined.rstrip() + GAP
    key = f"sms:concat:{rows[0].group}:{first.provider_message_id}"
    return first.model_copy(update={"key": key, "text": joined.strip(), "raw": {"parts": [r.raw for r in rows]}})


def _total(group: str) -> int:
    return int(group.rsplit("-", 1)[1])


def _mark(session: Session, rows: list[_Row], key: str) -> None:
    """The parts' rows name the message they joined (and wait no more)."""
    for row in rows:
        session.execute(update(InboundMessage).where(InboundMessage.id == row.id).values(
            reason=f"part {row.number} of {_total(row.group)}: joined into {key}"))
