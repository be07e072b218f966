"""A message typed (or a button pressed) on the web chat page → the normalised Message.

The page posts {"id": its own message id, "text", "location": {"lat", "lon", "accuracy_m"}, "reply_to": the
id of our message whose button was pressed}; web/chat.py adds who the browser is (its chat id, from a cookie)
and the reference of an uploaded photo. The page's id makes a resent message (a retry after a lost answer)
the same message.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.intake import Skipped
from ingest.message import Address, Location, Media, Message, Sender

from bots.webchat import NAME as CHANNEL  # noqa: E402
MAX_TEXT = 4000
_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class Invalid(ValueError):
    """A payload the page should not have sent (the message says what is wrong, for the page to show)."""


def parse(payload: Any, chat_id: str, received_at: datetime, photo: str | None = None,
          language: str | None = None) -> Message | Skipped:
    """The Message for one post from the page; raises Invalid when it cannot be one."""
    if not isinstance(payload, dict):
        raise Invalid("the body is not a JSON object")
    client_id = payload.get("id")
    if not isinstance(client_id, str) or not _ID.fullmatch(client_id):
        raise Invalid("id must be 8-64 letters, digits, '-' or '_'")
    key = f"{chat_id}:{client_id}"
    text = payload.get("text", "")
    if not isinstance(text, str):
        raise Invalid("text must be a string")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise Invalid(f"text is longer than {MAX_TEXT} characters")
    location = _location(payload.get("location"))
    reply_to = payload.get("reply_to")
    if reply_to is not None and (not isinstance(reply_to, str) or not _ID.fullmatch(reply_to)):
        raise Invalid("reply_to must be the id of one of our messages")
    raw = {"id": client_id, "text": text, "location": payload.get("location"), "reply_to": reply_to, "photo": photo}
    if not text and location is None and photo is None:
        return Skipped(CHANNEL, key, "ignored", "empty message (no text, location or photo)", raw)
    return Message(
        channel=CHANNEL, key=key,
        sender=Sender(id=chat_id),  # a browser, known only by its cookie: no name, nothing personal
        address=Address(channel=CHANNEL, chat_id=chat_id, reply_to=client_id),
        text=text, location=location, media=[Media(kind="photo", file_id=photo)] if photo else [],
        provider_message_id=client_id, reply_to=reply_to,
        # A button's value is read as if typed, as a Telegram button press is.
        command=text.split(maxsplit=1)[0].lower() if text.startswith("/") else None,
        language_hint=language, received_at=received_at, raw=raw,
    )


def _location(value: Any) -> Location | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("location must be an object with lat and lon")
    try:
        return Location(lat=value.get("lat"), lon=value.get("lon"), accuracy_m=value.get("accuracy_m"))
    except ValidationError as exc:
        raise Invalid(f"location is not a point: {exc.errors()[0]['msg']}") from exc
