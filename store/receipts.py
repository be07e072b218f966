"""What channels report about replies after sending them (delivered, read, failed), kept on the outbox rows."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.orm import Session

from store.models import Outbox, utcnow

log = logging.getLogger(__name__)


def record(session: Session, channel: str, provider_id: str, status: str, at: datetime, error: str | None = None) -> int:
    """Apply one report to the reply the channel knows as `provider_id`; → rows changed (0: not one of ours).

    Reports may come late or out of order, and again: the first delivery time stays, "read" implies delivered,
    and a failure only turns a sent reply into a failed one (a reply sent again since keeps its new state)."""
    mine = (Outbox.channel == channel) & (Outbox.provider_message_id == provider_id)
    if status in ("delivered", "read"):
        values = {"delivered_at": func.coalesce(Outbox.delivered_at, at)}
        if status == "read":
            values["read_at"] = func.coalesce(Outbox.read_at, at)
        return _changed(session.execute(update(Outbox).where(mine).values(**values)))
    if status == "failed":
        reason = f"{channel}: not delivered: {error or 'no reason given'}"
        done = _changed(session.execute(update(Outbox).where(mine, Outbox.status == "sent")
                                        .values(status="failed", last_error=reason[:2000], updated_at=utcnow())))
        if done:
            log.warning("outbox: %s reports reply %s… undelivered: %s", channel, provider_id[:16], error)
        return done
    return 0  # "sent": the send call itself said so


def _changed(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
