"""Channels that let us answer only within a window after the citizen's last message (WhatsApp's and Messenger's
24 hours): a reply due later is held, not sent into a refusal, and goes as soon as the citizen writes again."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import bots
from store import db
from store.models import Citizen, Outbox, utcnow

HELD = "held"
WHY = "outside {channel}'s {hours:g}-hour window since the citizen's last message: held until they write again"


def hours(channel: str) -> float | None:
    """The channel's window, or None when it answers at any time."""
    found = bots.BY_NAME.get(channel)
    return found.reply_window_hours if found else None


def closed(row: Outbox, now: datetime | None = None) -> bool:
    """Whether the reply's channel would refuse it now: the citizen last wrote longer ago than its window (or
    never wrote on it)."""
    window = hours(row.channel)
    if window is None:
        return False
    with db.factory()() as session:
        last = session.scalar(select(Citizen.last_seen_at).where(
            Citizen.channel == row.channel, Citizen.external_id == str(row.address.get("chat_id"))))
    return last is None or (now or utcnow()) - last > timedelta(hours=window)


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
