"""Replies through the Messenger Send API (POST /{version}/me/messages), built from the channel's config alone."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from bots.base import coerce
from bots.errors import PermanentError, RateLimited, SendError, TransientError
from bots.messenger.config import MessengerSettings
from ingest.message import Address

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000  # Send API limit for a text message
QUICK_REPLY_LIMIT = 13  # quick replies one message may carry
TITLE_LIMIT = 20  # characters of a quick reply's title
# Graph API error codes that mean "too many calls": app (4), user (17), Page (32), and the Send API's own (613).
_RATE_LIMITED = frozenset({4, 17, 32, 613})
# Codes Meta documents as temporary: unknown (1), service (2), "Temporary send message failure" (1200).
_TEMPORARY = frozenset({1, 2, 1200})
OUTSIDE_WINDOW = (10, 2018278)  # (code, subcode): "This message is sent outside of allowed window"
UNAVAILABLE = 551  # "This person isn't available right now": blocked the Page, or left Messenger


class MessengerSender:
    """Sends text replies (with quick replies for buttons); maps Graph API errors onto bots.errors."""

    max_text = TEXT_LIMIT  # the outbox cuts longer replies

    def __init__(self, config: Mapping[str, Any] | MessengerSettings) -> None:
        self.settings = coerce(MessengerSettings, config)
        self.url = f"{self.settings.graph_base_url.rstrip('/')}/{self.settings.api_version}/me/messages"
        # Made on first use: an aiohttp session belongs to the loop it was made on (the worker's background loop).
        self._session: aiohttp.ClientSession | None = None

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` to the PSID in `address` as a RESPONSE, with extras["buttons"] as quick replies; return the
        message id ("" when `text` is empty: there is no press to answer or button to clear on Messenger)."""
        extras = extras or {}
        if not text.strip():
            return ""
        token = self.settings.page_token
        if not token:
            raise PermanentError(f"messenger: no Page access token (set {self.settings.page_token_env})")
        message: dict[str, Any] = {"text": text}
        if extras.get("buttons"):
            message["quick_replies"] = quick_replies(extras["buttons"])
        # RESPONSE: a reply to the citizen's own message, allowed within 24 hours of it (Meta's standard messaging).
        body = {"recipient": {"id": address.chat_id}, "messaging_type": "RESPONSE", "message": message}
        session = self._client()
        try:
            # The Send API documents the token as the access_token query parameter; it never enters an error text.
            async with session.post(self.url, params={"access_token": token}, json=body) as resp:
                status, wait = resp.status, resp.headers.get("Retry-After")
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientError(f"messenger: {type(exc).__name__}: {_hide(str(exc), token)}") from None
        if 200 <= status < 300:
            found = data.get("message_id") if isinstance(data, dict) else None
            if not found:  # sent, by the status; a retry would send it twice, so the missing id is only noted
                log.warning("messenger: HTTP %s without a message_id; the reply counts as sent", status)
            return str(found or "")
        raise error_for(status, data, wait, self.settings.rate_limit_wait)

    async def close(self) -> None:
        """Close the HTTP session (its connections)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.connection_pool),
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout))
        return self._session


def quick_replies(buttons: Any) -> list[dict[str, str]]:
    """The router's button rows as Messenger quick replies (one row: Messenger shows them side by side)."""
    flat = [button for row in buttons for button in row]
    if len(flat) > QUICK_REPLY_LIMIT:
        # Meta refuses the whole message over the limit; the first ones are the likelier answers.
        log.warning("messenger: %d buttons, only the first %d are sent as quick replies", len(flat), QUICK_REPLY_LIMIT)
        flat = flat[:QUICK_REPLY_LIMIT]
    return [{"content_type": "text", "title": _shorten(str(b["label"]), TITLE_LIMIT), "payload": str(b["value"])}
            for b in flat]


def error_for(status: int, data: Any, retry_after: str | None, default_wait: float) -> SendError:
    """A refused Send API call as the channel-neutral error the outbox retries, waits for, or gives up on."""
    error = data.get("error") if isinstance(data, dict) else None
    error = error if isinstance(error, dict) else {}
    code, subcode = error.get("code"), error.get("error_subcode")
    detail = f"HTTP {status}, code {code}" + (f"/{subcode}" if subcode else "") + f": {error.get('message') or 'no message'}"
    if status == 429 or code in _RATE_LIMITED:
        return RateLimited(_seconds(retry_after, default_wait), f"by Meta ({detail})")
    if (code, subcode) == OUTSIDE_WINDOW:
        return PermanentError("messenger: outside the 24-hour window: Meta refuses a standard reply more than 24 hours "
                              f"after the citizen's last message; it can be sent once they write again ({detail})")
    if code == UNAVAILABLE:
        return PermanentError(f"messenger: the person is not reachable (blocked the Page or left Messenger) ({detail})")
    if status >= 500 or code in _TEMPORARY or error.get("is_transient") is True:
        return TransientError(f"messenger: {detail}")
    return PermanentError(f"messenger: {detail}")


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if 0 < seconds < float("inf") else default  # NaN fails both comparisons


def _shorten(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with an ellipsis when longer (Meta refuses a longer title)."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _hide(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text
