"""The few functions that read and write crophub's tables."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable, cast

from sqlalchemy import Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Citizen, Cursor, InboundMessage, Outbox, Ticket, TicketEvent, TicketReporter, WazeAlert, utcnow


def table_of(model: Any) -> Table:
    """A mapped class's table, typed as the Table it is (SQLAlchemy types `__table__` as any FromClause)."""
    return cast(Table, model.__table__)


def dialect_insert(session: Session, model: Any) -> Any:
    """INSERT with ON CONFLICT support for the bound dialect (SQLite or PostgreSQL)."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(model)


# --- inbound -----------------------------------------------------------------------------------

def save_inbound(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert inbound rows, skipping replays; return the ids of new rows still to be processed."""
    if not rows:
        return []
    # An executemany takes its columns from the first row: give every row every column.
    columns = {key for row in rows for key in row}
    rows = [{key: row.get(key) for key in columns} for row in rows]
    table = table_of(InboundMessage)
    stmt = (
        dialect_insert(session, table)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(table.c.id, table.c.status)
    )
    return sorted(row.id for row in _executemany(session, stmt, rows) if row.status == "received")


def _executemany(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> Any:
    # One compiled statement, batched by SQLAlchemy's "insertmanyvalues" (RETURNING included): a
    # multi-row VALUES would be compiled afresh for every batch size, which costs more than the insert.
    return session.connection().execute(stmt, rows)


def claim_inbound(session: Session, ids: Iterable[int]) -> list[tuple[int, dict[str, Any]]]:
    """Mark received rows processed and return (id, message); a row is claimed by one transaction only."""
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.id.in_(list(ids)), InboundMessage.status == "received")
        .values(status="processed", processed_at=utcnow())
        .returning(InboundMessage.id, InboundMessage.message)
    )
    return sorted((row.id, row.message) for row in session.execute(stmt))


def fail_inbound(session: Session, inbound_id: int, reason: str, unclaimed: bool = False) -> None:
    """Record that processing a message failed, and why, for inspection; `unclaimed`: only if no job has
    processed it meanwhile (outside the transaction that claimed it)."""
    stmt = update(InboundMessage).where(InboundMessage.id == inbound_id).values(status="failed", reason=reason[:2000])
    if unclaimed:
        stmt = stmt.where(InboundMessage.status == "received")
    session.execute(stmt)


def attempt_inbound(session: Session, ids: Iterable[int], add: int = 1, reason: str | None = None) -> dict[int, int]:
    """Count a try of messages still to be processed (and why the last one failed, if it did); → attempts by id."""
    values: dict[str, Any] = {"attempts": InboundMessage.attempts + add}
    if reason is not None:
        values["reason"] = reason[:2000]
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.id.in_(sorted(ids)), InboundMessage.status == "received")
        .values(**values)
        .returning(InboundMessage.id, InboundMessage.attempts)
    )
    return {row.id: row.attempts for row in session.execute(stmt)}


def dead_letter_inbound(session: Session, max_attempts: int, ids: Iterable[int] | None = None) -> list[int]:
    """Give up on messages tried max_attempts times (of `ids`, or all): failed, with the last error; → their ids."""
    given_up = f"gave up after {max_attempts} tries; last error: "
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.status == "received", InboundMessage.attempts >= max_attempts)
        .values(status="failed",
                reason=func.substr(given_up + func.coalesce(InboundMessage.reason, "none recorded (the job was lost)"),
                                   1, 2000))
        .returning(InboundMessage.id)
    )
    if ids is not None:
        stmt = stmt.where(InboundMessage.id.in_(sorted(ids)))
    return sorted(session.scalars(stmt))


def stale_inbound(session: Session, older_than: timedelta, limit: int = 1000, tried: bool | None = None) -> list[int]:
    """Ids of messages stored but never processed (their job was lost), oldest first; `tried`: only those
    whose earlier tries failed (True) or only those never tried and failed (False)."""
    cutoff = utcnow() - older_than
    stmt = (
        select(InboundMessage.id)
        .where(InboundMessage.status == "received", InboundMessage.received_at < cutoff)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    if tried is not None:
        stmt = stmt.where(InboundMessage.attempts > 0 if tried else InboundMessage.attempts == 0)
    return list(session.scalars(stmt))


# --- cursors -----------------------------------------------------------------------------------

def get_cursor(session: Session, name: str) -> str | None:
    """A listener's saved resume point."""
    row = session.get(Cursor, name)
    return row.value if row else None


def set_cursor(session: Session, name: str, value: str) -> None:
    """Save a listener's resume point (in the caller's transaction, beside what it covers)."""
    stmt = dialect_insert(session, Cursor).values(name=name, value=value, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": utcnow()})
    session.execute(stmt)


# --- citizens and tickets ----------------------------------------------------------------------

def upsert_citizens(session: Session, people: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Create or refresh citizens (channel, external_id, display_name, username, language); → ids by identity."""
    latest = {(p["channel"], p["external_id"]): p for p in people}  # one row per identity per statement
    if not latest:
        return {}
    # A fixed order, so two batches locking the same citizens cannot deadlock (PostgreSQL).
    latest = dict(sorted(latest.items()))
    now = utcnow()
    rows = [{**p, "display_name": _clip(p.get("display_name")), "username": _clip(p.get("username")),
             "language": _clip(p.get("language"), 8), "created_at": now, "last_seen_at": now} for p in latest.values()]
    table = table_of(Citizen)
    stmt = dialect_insert(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["channel", "external_id"],
        set_={col: stmt.excluded[col] for col in ("display_name", "username", "language", "last_seen_at")},
    ).returning(table.c.id, table.c.channel, table.c.external_id)
    return {(row.channel, row.external_id): row.id for row in _executemany(session, stmt, rows)}


def _clip(value: str | None, size: int = 255) -> str | None:
    return value[:size] if value else value


def create_tickets(session: Session, prefix: str, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert tickets and give each its public id (e.g. JKT-2026-000123); → (id, public_id) in order."""
    if not rows:
        return []
    now = utcnow()
    rows = [{"created_at": now, "updated_at": now, "status": "open", **r} for r in rows]
    table = table_of(Ticket)
    inserted = _executemany(session, insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    ids = [row.id for row in inserted]
    # The row id is unique and monotonic across processes; the year makes ids readable.
    made = [(ticket_id, f"{prefix}-{row['created_at'].year}-{ticket_id:06d}") for ticket_id, row in zip(ids, rows)]
    set_public_id = update(table).where(table.c.id == bindparam("ticket_id")).values(public_id=bindparam("public"))
    session.connection().execute(set_public_id, [{"ticket_id": i, "public": p} for i, p in made])
    return made


def add_reporters(session: Session, rows: list[dict[str, Any]]) -> int:
    """Add reporters to tickets (ticket_id, citizen_id, reply_address, language); one row per person per
    ticket, so a citizen who reports the same thing twice is told once. → rows added."""
    if not rows:
        return 0
    now = utcnow()
    rows = [{"joined_at": now, **r} for r in rows]
    table = table_of(TicketReporter)
    stmt = (dialect_insert(session, table).on_conflict_do_nothing(index_elements=["ticket_id", "citizen_id"])
            .returning(table.c.ticket_id))
    return len(list(_executemany(session, stmt, rows)))


def add_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Append to tickets' audit trails (ticket_id, kind, actor, data, inbound_id)."""
    if events:
        now = utcnow()
        session.execute(insert(TicketEvent), [{"created_at": now, "data": None, "inbound_id": None, **e} for e in events])


def tickets_with_event(session: Session, ticket_ids: list[int], kind: str) -> set[int]:
    """Those of the tickets whose audit trail has an event of `kind`."""
    if not ticket_ids:
        return set()
    return set(session.scalars(select(TicketEvent.ticket_id).where(TicketEvent.ticket_id.in_(ticket_ids),
                                                                  TicketEvent.kind == kind).distinct()))


def card_chats(session: Session, ticket_id: int) -> list[Outbox]:
    """The last card of a ticket sent to each chat (officers' and units' chats), oldest chat first."""
    rows = session.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id,
                                                Outbox.dedupe_key.like(f"card:{ticket_id}:%")).order_by(Outbox.id))
    latest: dict[str, Outbox] = {}
    for row in rows:
        latest[row.chat_key] = row
    return list(latest.values())


def resolved_tickets_of_reporter(session: Session, citizen_id: int, limit: int = 5) -> list[int]:
    """Ids of resolved tickets (waiting for "is it fixed?") the citizen is a reporter of, newest first."""
    stmt = (select(Ticket.id).join(TicketReporter, TicketReporter.ticket_id == Ticket.id)
            .where(TicketReporter.citizen_id == citizen_id, Ticket.status == "resolved")
            .order_by(Ticket.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def ticket_by_public_id(session: Session, public_id: str) -> Ticket | None:
    """A ticket by its public id, case-insensitively."""
    return session.scalars(select(Ticket).where(Ticket.public_id == public_id.strip().upper())).first()


def recent_open_ticket(session: Session, citizen_id: int, since: datetime) -> Ticket | None:
    """The citizen's newest ticket created after `since` that is not yet with an officer."""
    stmt = (
        select(Ticket)
        .where(Ticket.citizen_id == citizen_id, Ticket.status.in_(("needs_info", "open")), Ticket.created_at >= since)
        .order_by(Ticket.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def ticket_for_reply(session: Session, chat_key: str, provider_message_id: str) -> Ticket | None:
    """The ticket one of our sent messages in this chat was about."""
    stmt = (
        select(Ticket)
        .join(Outbox, Outbox.ticket_id == Ticket.id)
        .where(Outbox.chat_key == chat_key, Outbox.provider_message_id == provider_message_id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def undispatched_tickets(session: Session, older_than: timedelta, retry_unrouted: timedelta,
                         limit: int = 1000) -> list[int]:
    """Open tickets that never reached officers (their dispatch job was lost), and those nobody covered, once
    `retry_unrouted` has passed since the last try (the roster may have grown)."""
    now = utcnow()
    recent_try = (select(TicketEvent.id).where(TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "unrouted",
                                               TicketEvent.created_at >= now - retry_unrouted).exists())
    stmt = (select(Ticket.id)
            .where(Ticket.status == "open", Ticket.updated_at < now - older_than,
                   ~recent_try)
            .order_by(Ticket.id).limit(limit))
    return list(session.scalars(stmt))


def ticket_sources(session: Session, ticket_id: int) -> dict[str, Any]:
    """Where a ticket's reports came from: reporters per channel, and the Waze alerts linked to it."""
    by_channel: dict[str, int] = {}
    for (address,) in session.execute(select(TicketReporter.reply_address).where(TicketReporter.ticket_id == ticket_id)):
        channel = (address or {}).get("channel", "?")
        by_channel[channel] = by_channel.get(channel, 0) + 1
    alerts = list(session.scalars(select(WazeAlert).where(WazeAlert.ticket_id == ticket_id).order_by(WazeAlert.first_seen_at)))
    return {"reporters": by_channel, "waze": [
        {"key": a.key, "kind": a.kind_key, "score": a.score, "status": a.status, "thumbs_up": (a.data or {}).get("thumbs_up"),
         "first_seen_at": a.first_seen_at.isoformat(), "last_seen_at": a.last_seen_at.isoformat()} for a in alerts]}


def outbox_for_reply(session: Session, chat_key: str, provider_message_id: str) -> Outbox | None:
    """Our sent message (card, update, acknowledgement) a message in this chat replies to or pressed a button on."""
    stmt = select(Outbox).where(Outbox.chat_key == chat_key, Outbox.provider_message_id == provider_message_id).limit(1)
    return session.scalars(stmt).first()


def events_of(session: Session, ticket_id: int) -> list[TicketEvent]:
    """A ticket's audit trail, oldest first."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))


# --- outbox ------------------------------------------------------------------------------------

def add_outboxes(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Store replies to send; a reply whose dedupe_key (the event it answers) exists is skipped."""
    if not rows:
        return []
    now = utcnow()
    rows = [{"created_at": now, "status": "pending", "attempts": 0, "ticket_id": None, "inbound_id": None,
             "extras": None, **r} for r in rows]
    rows = [{"updated_at": r["created_at"], **r} for r in rows]
    table = table_of(Outbox)
    stmt = dialect_insert(session, table).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(table.c.id)
    return sorted(row.id for row in _executemany(session, stmt, rows))


def provider_ids(session: Session, dedupe_keys: list[str]) -> dict[str, str]:
    """The channel's message ids of sent replies, by the replies' dedupe keys."""
    if not dedupe_keys:
        return {}
    stmt = select(Outbox.dedupe_key, Outbox.provider_message_id).where(Outbox.dedupe_key.in_(dedupe_keys),
                                                                     Outbox.provider_message_id.is_not(None))
    return {key: pid for key, pid in session.execute(stmt) if pid}


def outbox_chats(session: Session, ids: Iterable[int]) -> dict[str, int]:
    """For pending rows among `ids`: chat_key → the highest id to send up to."""
    stmt = (
        select(Outbox.chat_key, func.max(Outbox.id))
        .where(Outbox.id.in_(list(ids)), Outbox.status == "pending")
        .group_by(Outbox.chat_key)
    )
    return {chat_key: max_id for chat_key, max_id in session.execute(stmt)}


def stale_outbox(session: Session, quiet_for: timedelta, limit: int = 1000) -> list[int]:
    """Ids of pending replies whose job must have been lost: due (never tried, a retry's time come, a 429's wait
    or a sender's lease over) for longer than `quiet_for`, which no job of theirs would let pass."""
    now = utcnow()
    stmt = (
        select(Outbox.id)
        .where(
            Outbox.status == "pending",
            or_(and_(Outbox.not_before.is_(None), Outbox.updated_at < now - quiet_for),
                Outbox.not_before < now - quiet_for),
        )
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def tickets_of_citizen(session: Session, citizen_id: int, limit: int = 5) -> list[Ticket]:
    """A citizen's newest tickets."""
    stmt = select(Ticket).where(Ticket.citizen_id == citizen_id).order_by(Ticket.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def claim_outbox(session: Session, chats: dict[str, int], until: datetime) -> dict[str, tuple[list[Outbox], datetime | None]]:
    """Take the replies each chat may send now (pending, up to its id, oldest first, up to the first that must
    wait), so that no other sender takes them before `until`; → per chat (rows taken, when the reply it waits
    for is due). A crash leaves them taken until `until`, then the sweep finds them."""
    now = utcnow()
    stmt = select(Outbox).where(Outbox.chat_key.in_(list(chats)), Outbox.status == "pending").order_by(Outbox.id)
    taken: dict[str, list[Outbox]] = {chat: [] for chat in chats}
    due: dict[str, datetime | None] = {chat: None for chat in chats}
    for row in session.scalars(stmt):
        chat = row.chat_key
        if row.id > chats[chat] or due[chat] is not None:
            continue  # newer than this job, or behind one that waits: later replies never overtake
        if row.not_before is not None and row.not_before > now:
            due[chat] = row.not_before  # a retry's time, a 429's wait, or another sender has it
        else:
            taken[chat].append(row)
    ids = [row.id for rows in taken.values() for row in rows]
    if not ids:
        return {chat: (taken[chat], due[chat]) for chat in chats}
    table = table_of(Outbox)
    # The same condition again, in the UPDATE: of two senders reading at once, one takes each row.
    got = set(session.execute(
        update(table).where(table.c.id.in_(ids), table.c.status == "pending",
                            or_(table.c.not_before.is_(None), table.c.not_before <= now))
        .values(not_before=until).returning(table.c.id)).scalars())
    release: list[int] = []
    for chat, rows in taken.items():
        lost = next((k for k, row in enumerate(rows) if row.id not in got), None)
        if lost is not None:  # another sender took one meanwhile: stop before it, give back what follows
            release += [row.id for row in rows[lost:] if row.id in got]
            taken[chat], due[chat] = rows[:lost], until
    if release:
        session.execute(update(table).where(table.c.id.in_(release)).values(not_before=None))
    return {chat: (taken[chat], due[chat]) for chat in chats}


def mark_outboxes(session: Session, changes: list[dict[str, Any]]) -> None:
    """Update many outbox rows at once; each dict names the row's `id` and the columns to set."""
    by_columns: dict[frozenset[str], list[dict[str, Any]]] = {}
    for change in changes:
        by_columns.setdefault(frozenset(change), []).append(change)
    table = table_of(Outbox)
    by_id = update(table).where(table.c.id == bindparam("outbox_id"))
    for group in by_columns.values():  # one executemany per shape: absent columns stay as they are
        session.connection().execute(by_id, [{"outbox_id": c["id"], **{k: v for k, v in c.items() if k != "id"}}
                                             for c in group])


def ticket_languages(session: Session, citizen_ids: set[int]) -> dict[int, str]:
    """The language of each citizen's latest report (the conversation's language), by citizen id."""
    if not citizen_ids:
        return {}
    latest = (select(TicketReporter.citizen_id, func.max(TicketReporter.ticket_id).label("ticket_id"))
              .where(TicketReporter.citizen_id.in_(sorted(citizen_ids))).group_by(TicketReporter.citizen_id).subquery())
    rows = session.execute(select(latest.c.citizen_id, Ticket.language).join(Ticket, Ticket.id == latest.c.ticket_id))
    return {citizen: language for citizen, language in rows if language}
