"""What channels report about replies after sending them (delivered, read, failed), kept on the outbox rows."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import ColumnElement, func, update
from sqlalchemy.orm import Session

from store.models import Outbox, utcnow

log = logging.getLogger(__name__)


def record(session: Session, channel: str, provider_id: str | None, status: str, at: datetime, error: str | None = None,
           *, chat_key: str | None = None, up_to: datetime | None = None) -> int:
    """Apply one report to the reply the channel knows as `provider_id`, or (delivered or read only) to every reply
    sent to the chat `chat_key` at or before `up_to` (a watermark); → rows changed (0: none of ours, or known).

    Reports may come late or out of order, and again: the first delivery time stays, "read" implies delivered,
    and a failure only turns a sent reply into a failed one (a reply sent again since keeps its new state)."""
    mine: ColumnElement[bool]
    if provider_id:
        mine = (Outbox.channel == channel) & (Outbox.provider_message_id == provider_id)
    elif chat_key and up_to is not None and status in ("delivered", "read"):
        # Messages the channel was given: an empty reply (nothing to send) is marked sent with no provider id.
        mine = ((Outbox.channel == channel) & (Outbox.chat_key == chat_key) & (Outbox.sent_at <= up_to)
                & (Outbox.provider_message_id != ""))
    else:
        return 0
    if status == "delivered":
        return _changed(session.execute(update(Outbox).where(mine, Outbox.delivered_at.is_(None))
                                        .values(delivered_at=at)))
    if status == "read":
        return _changed(session.execute(update(Outbox).where(mine, Outbox.read_at.is_(None)).values(
            read_at=at, delivered_at=func.coalesce(Outbox.delivered_at, at))))
    if status == "failed" and provider_id:
        reason = f"{channel}: not delivered: {error or 'no reason given'}"
        done = _changed(session.execute(update(Outbox).where(mine, Outbox.status == "sent")
                                        .values(status="failed", last_error=reason[:2000], updated_at=utcnow())))
        if done:
            log.warning("outbox: %s reports reply %s… undelivered: %s", channel, provider_id[:16], error)
        return done
    return 0  # "sent": the send call itself said so


def _changed(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
