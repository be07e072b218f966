"""A channel sender without buttons (like email or SMS would be), recording what it was asked to send."""
from __future__ import annotations

import itertools
from typing import Any

from ingest.message import Address

SENT: list[dict[str, Any]] = []
_ids = itertools.count(1)


class PlainSender:
    """Sends text only: no `buttons` attribute, so the outbox renders buttons as a numbered menu."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Record the message; return a message id."""
        SENT.append({"address": address, "text": text, "extras": extras})
        return f"plain-{next(_ids)}"
