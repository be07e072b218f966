"""The one normalised message every channel produces, and its parts."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Part):
    """Where a reply goes, as plain data, so any worker can answer on the right channel."""

    channel: str
    chat_id: str
    bot: str | None = None  # which of our accounts received it, when a channel runs several
    reply_to: str | None = None  # provider message id to thread the reply under
    callback_id: str | None = None  # a button press to acknowledge (Telegram callback query) when replying
    # Email threading: the subject to answer under ("Re: ...") and the References header of the
    # message answered (reply_to is its Message-ID).
    subject: str | None = None
    references: str | None = None

    @property
    def chat_key(self) -> str:
        """One string per conversation; replies to the same chat_key keep their order."""
        return f"{self.channel}:{self.bot or ''}:{self.chat_id}"


class Sender(_Part):
    """Who wrote the message, as the channel names them (private data: never shown publicly)."""

    id: str
    name: str | None = None
    username: str | None = None
    is_bot: bool = False


class Location(_Part):
    """A point the sender shared or the channel attached."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = None
    title: str | None = None
    # The centre of a named area (a tweet's tagged place), not a point anyone stood at: it only backs up
    # what the text names, as far as accuracy_m (half the area's diagonal) allows.
    area: bool = False
    # A live location (Telegram): the sender's position is shared until `live_until` (the live period's end; the
    # moment they stopped it, for the update that stops it). `live_update`: a later position of a live location
    # already shared (an edit of that message), not a new message.
    live_until: datetime | None = None
    live_update: bool = False


class Media(_Part):
    """A photo or file attached to a message, by the channel's own file reference."""

    kind: Literal["photo", "video", "document", "audio", "voice"]
    file_id: str
    width: int | None = None
    height: int | None = None
    size: int | None = None
    mime_type: str | None = None


class Receipt(_Part):
    """What a channel reports about replies it was given: sent, delivered to the phone, read, or failed. About one
    reply (`provider_id`), or, for a channel that reports by watermark (Messenger), about every reply it was given
    in one chat up to a time (`chat_key` and `up_to`)."""

    provider_id: str | None = None  # the channel's id of our message (Outbox.provider_message_id)
    chat_key: str | None = None  # Address.chat_key of the chat: every reply sent to it up to `up_to`
    up_to: datetime | None = None  # the watermark: replies sent to the chat at or before it
    status: Literal["sent", "delivered", "read", "failed"]
    at: datetime
    error: str | None = None  # why it failed, as the channel says

    @model_validator(mode="after")
    def _names_replies(self) -> Receipt:
        if bool(self.provider_id) == bool(self.chat_key):
            raise ValueError("a receipt names either one reply (provider_id) or one chat (chat_key), not both")
        if self.chat_key and (self.up_to is None or self.status not in ("delivered", "read")):
            raise ValueError("a chat's receipt says delivered or read up to a time (up_to)")
        return self


class Message(BaseModel):
    """A citizen's or officer's message, normalised from any channel."""

    model_config = ConfigDict(extra="forbid")

    channel: str
    key: str  # per-channel idempotency key: replays of the same payload carry the same key
    sender: Sender
    address: Address
    text: str = ""
    media: list[Media] = []
    location: Location | None = None
    provider_message_id: str | None = None
    reply_to: str | None = None  # provider message id of the message this one answers
    command: str | None = None  # "/status" etc., without any @botname suffix; a feed's event ("waze:gone")
    language_hint: str | None = None  # what the channel says of the sender's language, e.g. "id", "en"
    category: str | None = None  # what the channel already says of the category (an Open311 service_code)
    sent_at: datetime | None = None
    received_at: datetime
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)
    # Photo bytes the channel delivered itself (an email's attachments, a web chat upload), by the reference
    # ("media:sha256:…") their Media name: stored with the message (store/media.py), never in its JSON.
    blobs: dict[str, bytes] = Field(default_factory=dict, repr=False, exclude=True)

    def stored(self) -> dict[str, Any]:
        """JSON-safe form for the store; the raw payload is kept in its own column."""
        return self.model_dump(mode="json", exclude={"raw"})
