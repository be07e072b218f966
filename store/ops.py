"""The few functions that read and write crophub's tables."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store.models import Citizen, Cursor, InboundMessage, Outbox, Ticket, TicketEvent, utcnow


def _insert(session: Session, model: type) -> Any:
    """INSERT with ON CONFLICT support for the bound dialect (SQLite or PostgreSQL)."""
    dialect = sqlite if session.get_bind().dialect.name == "sqlite" else postgresql
    return dialect.insert(model)


# --- inbound -----------------------------------------------------------------------------------

def save_inbound(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert inbound rows, skipping replays; return the ids of new rows still to be processed."""
    if not rows:
        return []
    # A multi-row VALUES takes its columns from the first row: give every row every column.
    columns = {key for row in rows for key in row}
    rows = [{key: row.get(key) for key in columns} for row in rows]
    stmt = (
        _insert(session, InboundMessage)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["channel", "key"])
        .returning(InboundMessage.id, InboundMessage.status)
    )
    return sorted(row.id for row in session.execute(stmt) if row.status == "received")


def claim_inbound(session: Session, ids: Iterable[int]) -> list[tuple[int, dict[str, Any]]]:
    """Mark received rows processed and return (id, message); a row is claimed by one transaction only."""
    stmt = (
        update(InboundMessage)
        .where(InboundMessage.id.in_(list(ids)), InboundMessage.status == "received")
        .values(status="processed", processed_at=utcnow())
        .returning(InboundMessage.id, InboundMessage.message)
    )
    return sorted((row.id, row.message) for row in session.execute(stmt))


def fail_inbound(session: Session, inbound_id: int, reason: str) -> None:
    """Record that processing a message failed, and why, for inspection."""
    session.execute(
        update(InboundMessage).where(InboundMessage.id == inbound_id).values(status="failed", reason=reason[:2000])
    )


def stale_inbound(session: Session, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Ids of messages stored but never processed (their job was lost), oldest first."""
    cutoff = utcnow() - older_than
    stmt = (
        select(InboundMessage.id)
        .where(InboundMessage.status == "received", InboundMessage.received_at < cutoff)
        .order_by(InboundMessage.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


# --- cursors -----------------------------------------------------------------------------------

def get_cursor(session: Session, name: str) -> str | None:
    """A listener's saved resume point."""
    row = session.get(Cursor, name)
    return row.value if row else None


def set_cursor(session: Session, name: str, value: str) -> None:
    """Save a listener's resume point (in the caller's transaction, beside what it covers)."""
    stmt = _insert(session, Cursor).values(name=name, value=value, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"value": value, "updated_at": utcnow()})
    session.execute(stmt)


# --- citizens and tickets ----------------------------------------------------------------------

def upsert_citizen(
    session: Session, channel: str, external_id: str, name: str | None, username: str | None, language: str | None
) -> Citizen:
    """The citizen for one channel identity, created on first contact, refreshed after."""
    values = {"display_name": name, "username": username, "language": language, "last_seen_at": utcnow()}
    stmt = (
        _insert(session, Citizen)
        .values(channel=channel, external_id=external_id, created_at=utcnow(), **values)
        .on_conflict_do_update(index_elements=["channel", "external_id"], set_=values)
        .returning(Citizen.id)
    )
    citizen_id = session.execute(stmt).scalar_one()
    return session.get_one(Citizen, citizen_id, populate_existing=True)


def create_ticket(session: Session, prefix: str, **fields: Any) -> Ticket:
    """Insert a ticket and give it its public id, e.g. JKT-2026-000123."""
    ticket = Ticket(**fields)
    session.add(ticket)
    session.flush()
    year = (ticket.created_at or utcnow()).year
    # The row id is unique and monotonic across processes; the year makes ids readable.
    ticket.public_id = f"{prefix}-{year}-{ticket.id:06d}"
    return ticket


def add_event(
    session: Session, ticket_id: int, kind: str, actor: str, data: dict[str, Any] | None = None,
    inbound_id: int | None = None,
) -> None:
    """Append to a ticket's audit trail."""
    session.add(TicketEvent(ticket_id=ticket_id, kind=kind, actor=actor, data=data, inbound_id=inbound_id))


def ticket_by_public_id(session: Session, public_id: str) -> Ticket | None:
    """A ticket by its public id, case-insensitively."""
    return session.scalars(select(Ticket).where(Ticket.public_id == public_id.strip().upper())).first()


def recent_open_ticket(session: Session, citizen_id: int, since: datetime) -> Ticket | None:
    """The citizen's newest open ticket created after `since`."""
    stmt = (
        select(Ticket)
        .where(Ticket.citizen_id == citizen_id, Ticket.status == "open", Ticket.created_at >= since)
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


def events_of(session: Session, ticket_id: int) -> list[TicketEvent]:
    """A ticket's audit trail, oldest first."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)))


# --- outbox ------------------------------------------------------------------------------------

def add_outbox(session: Session, **fields: Any) -> int | None:
    """Store a reply to send; None when one already exists for the same event (dedupe_key)."""
    stmt = (
        _insert(session, Outbox)
        .values(**{"created_at": utcnow(), "status": "pending", "attempts": 0, **fields})
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Outbox.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def outbox_chats(session: Session, ids: Iterable[int]) -> dict[str, int]:
    """For pending rows among `ids`: chat_key → the highest id to send up to."""
    stmt = (
        select(Outbox.chat_key, func.max(Outbox.id))
        .where(Outbox.id.in_(list(ids)), Outbox.status == "pending")
        .group_by(Outbox.chat_key)
    )
    return {chat_key: max_id for chat_key, max_id in session.execute(stmt)}


def pending_in_chat(session: Session, chat_key: str, up_to: int) -> list[Outbox]:
    """Pending replies in one chat, oldest first, so order in the chat is kept."""
    stmt = (
        select(Outbox)
        .where(Outbox.chat_key == chat_key, Outbox.status == "pending", Outbox.id <= up_to)
        .order_by(Outbox.id)
    )
    return list(session.scalars(stmt))


def mark_outbox(session: Session, outbox_id: int, **values: Any) -> None:
    """Update one outbox row (status, attempts, error, provider id)."""
    session.execute(update(Outbox).where(Outbox.id == outbox_id).values(**values))


def stale_outbox(session: Session, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Ids of replies never tried after `older_than` (their send job was lost); retries belong to RQ."""
    cutoff = utcnow() - older_than
    stmt = (
        select(Outbox.id)
        .where(Outbox.status == "pending", Outbox.attempts == 0, Outbox.created_at < cutoff)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def tickets_of_citizen(session: Session, citizen_id: int, limit: int = 5) -> list[Ticket]:
    """A citizen's newest tickets."""
    stmt = select(Ticket).where(Ticket.citizen_id == citizen_id).order_by(Ticket.id.desc()).limit(limit)
    return list(session.scalars(stmt))
