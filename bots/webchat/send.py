"""Replies to the web chat: the outbox row itself is what the page reads, so sending only gives it an id."""
from __future__ import annotations

import secrets
from typing import Any

from ingest.message import Address


class WebChatSender:
    """Marks a reply deliverable; the page (web/chat.py) shows sent replies with their buttons and photo."""


    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Nothing travels: the page polls for sent replies. → the id a button press replies to ("" for a row
        without text, which the page reads only for its clear_buttons and toast)."""
        if not text.strip():
            return ""
        return secrets.token_urlsafe(12)
