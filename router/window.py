"""Channels that let us answer only within a window after the citizen's last message (WhatsApp's and Messenger's
24 hours): a reply due later is held, not sent into a refusal, and goes as soon as the citizen writes again."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import bots
from bots import registry
from router.templates import render
from store import db, ops
from store.models import Citizen, Outbox, Ticket, utcnow

HELD = "held"
WHY = "outside {channel}'s {hours:g}-hour window since the citizen's last message: held until they write again"


def hours(channel: str) -> float | None:
    """The channel's window, or None when it answers at any time."""
    found = bots.BY_NAME.get(channel)
    return found.reply_window_hours if found else None


def _notifies(channel: str) -> bool:
    """Whether the channel's sender has a template to send after the window (a sender it cannot build: no)."""
    try:
        return bool(getattr(registry.get(channel), "notifies_after_window", False))
    except Exception:  # not configured here: the reply is held all the same
        return False


NOTICE_KEY = "window-notice:"  # the dedupe keys of notices start so: one per held reply at most


def _last_seen(session: Session, row: Outbox) -> datetime | None:
    return session.scalar(select(Citizen.last_seen_at).where(
        Citizen.channel == row.channel, Citizen.external_id == str(row.address.get("chat_id"))))


def closed(row: Outbox, now: datetime | None = None) -> bool:
    """Whether the reply's channel would refuse it now: the citizen last wrote longer ago than its window (or
    never wrote on it). A notice (the channel's approved template) is never held: it is what may go."""
    window = hours(row.channel)
    if window is None or (row.extras or {}).get("notice"):
        return False
    with db.factory()() as session:
        last = _last_seen(session, row)
    return last is None or (now or utcnow()) - last > timedelta(hours=window)


def notice(row: Outbox) -> int | None:
    """For the first reply about a ticket held since the citizen last wrote, store a notice that there is news,
    which the channel sends as its approved template (WhatsApp) → its id, to send; None when the sender has no
    template or a notice went already (the citizen's answer to it releases every held reply at once)."""
    if row.ticket_id is None or not _notifies(row.channel):
        return None
    with db.session() as session:
        last = _last_seen(session, row)
        earlier = select(func.count()).select_from(Outbox).where(
            Outbox.chat_key == row.chat_key, Outbox.dedupe_key.like(NOTICE_KEY + "%"))
        if session.scalar(earlier if last is None else earlier.where(Outbox.created_at > last)):
            return None
        ticket = session.scalar(select(Ticket.public_id).where(Ticket.id == row.ticket_id))
        if not ticket:
            return None
        language = "en" if (row.extras or {}).get("language") == "en" else "id"
        ids = ops.add_outboxes(session, [{
            "dedupe_key": f"{NOTICE_KEY}{row.id}", "channel": row.channel, "chat_key": row.chat_key,
            "address": row.address, "text": render("window_notice", language, ticket=ticket),
            "ticket_id": row.ticket_id, "extras": {"notice": ticket, "language": language}}])
    return ids[0] if ids else None


def reason(channel: str) -> str:
    """What a held reply says about itself (its last_error)."""
    return WHY.format(channel=channel, hours=hours(channel) or 0)


def release(session: Session, chat_keys: set[str]) -> list[int]:
    """The held replies of these chats made pending again (their citizen has just written); → their ids, to send."""
    if not chat_keys:
        return []
    ids = list(session.scalars(select(Outbox.id).where(Outbox.chat_key.in_(sorted(chat_keys)), Outbox.status == HELD)))
    if ids:
        session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(status="pending", last_error=None,
                                                                        not_before=None, updated_at=utcnow()))
    return ids
