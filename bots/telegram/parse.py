"""Telegram Update (Bot API JSON) → `Message`, or a named skip. Pure: no I/O."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from telegram import Location as TgLocation
from telegram import Message as TgMessage
from telegram import Update

from ingest.intake import Skipped, payload_key
from ingest.message import Address, Location, Media, Message, Sender

from bots.telegram import NAME as CHANNEL  # noqa: E402

# Message content we turn into reports; any other content kind is named and ignored.
_MESSAGE_CONTENT = ("text", "photo", "location", "venue")
_OTHER_CONTENT = (
    "sticker", "voice", "audio", "video", "video_note", "document", "animation", "contact", "poll", "dice",
    "game", "invoice", "successful_payment", "new_chat_members", "left_chat_member", "new_chat_title",
    "new_chat_photo", "pinned_message", "story", "giveaway",
)


def bot_id_of(token: str) -> str:
    """The bot's numeric id, the part of its token before the colon."""
    return token.split(":", 1)[0]


def parse_update(raw: Any, bot_id: str, received_at: datetime | None = None) -> Message | Skipped:
    """Turn one Bot API Update into a Message; unsupported kinds are ignored, malformed ones rejected."""
    received_at = received_at or datetime.now(timezone.utc)
    if not isinstance(raw, dict):
        return _reject(raw, f"update is a {type(raw).__name__}, not a JSON object")
    update_id = raw.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        return _reject(raw, "update_id is missing or not an integer")
    key = f"{bot_id}:{update_id}"
    kinds = [k for k in raw if k != "update_id"]
    if not kinds:
        return _reject(raw, "update carries no content", key)
    handler = _HANDLERS.get(kinds[0])
    if handler is None:
        return Skipped(CHANNEL, key, "ignored", f"unsupported update kind: {kinds[0]}", raw)
    try:
        return handler(Update.de_json(raw, None), raw, key, bot_id, received_at)
    except Exception as exc:  # whatever a malformed payload makes the parser raise, it is the payload's fault
        return _reject(raw, f"{kinds[0]}: {type(exc).__name__}: {exc}".replace("\n", " "), key)


def _reject(raw: Any, reason: str, key: str | None = None) -> Skipped:
    return Skipped(CHANNEL, key or payload_key(raw), "rejected", reason, raw)


def _from_message(update: Update, raw: dict[str, Any], key: str, bot_id: str, received_at: datetime) -> Message | Skipped:
    msg: TgMessage | None = update.message
    if msg is None or msg.chat is None:
        return _reject(raw, "message has no chat", key)
    content = next((k for k in _MESSAGE_CONTENT if raw["message"].get(k)), None)
    if content is None:
        other = next((k for k in _OTHER_CONTENT if raw["message"].get(k)), "empty")
        return Skipped(CHANNEL, key, "ignored", f"unsupported message content: {other}", raw)

    user = msg.from_user
    sender = Sender(
        id=str(user.id if user else msg.chat.id),
        name=(user.full_name if user else msg.chat.title) or None,
        username=(user.username if user else msg.chat.username),
        is_bot=bool(user and user.is_bot),
    )
    text = msg.text or msg.caption or ""
    command = None
    if msg.text and msg.text.startswith("/"):
        # "/status@CropHubBot JKT-..." in groups names the bot; the command is the part before "@".
        command = msg.text.split(maxsplit=1)[0].split("@", 1)[0].lower()
    media = []
    if msg.photo:
        best = msg.photo[-1]  # Telegram lists sizes smallest first
        media.append(Media(kind="photo", file_id=best.file_id, width=best.width, height=best.height,
                           size=best.file_size))
    location = None
    point = msg.location or (msg.venue.location if msg.venue else None)
    if point is not None:
        location = Location(lat=point.latitude, lon=point.longitude, accuracy_m=point.horizontal_accuracy,
                            title=msg.venue.title if msg.venue else None,
                            live_until=_live_until(msg.location, msg.date) if msg.location else None)
    return Message(
        channel=CHANNEL,
        key=key,
        sender=sender,
        address=Address(channel=CHANNEL, chat_id=str(msg.chat.id), bot=bot_id, reply_to=str(msg.message_id)),
        text=text,
        media=media,
        location=location,
        provider_message_id=str(msg.message_id),
        reply_to=str(msg.reply_to_message.message_id) if msg.reply_to_message else None,
        command=command,
        language_hint=(user.language_code if user else None),
        sent_at=msg.date,
        received_at=received_at,
        raw=raw,
    )


def _from_callback(update: Update, raw: dict[str, Any], key: str, bot_id: str, received_at: datetime) -> Message | Skipped:
    """A button press under one of our messages: its value is read as if the presser had typed it, as a
    reply to that message (so "/ambil JKT-..." from a card's button is the same as typing it)."""
    query = update.callback_query
    if query is None or query.from_user is None:
        return _reject(raw, "callback_query has no sender", key)
    msg = query.message
    if msg is None or msg.chat is None:
        return Skipped(CHANNEL, key, "ignored", "button press on an inline message (no chat)", raw)
    data = query.data or ""
    if not data.strip():
        return Skipped(CHANNEL, key, "ignored", "button press without data", raw)
    user = query.from_user
    command = data.split(maxsplit=1)[0].lower() if data.startswith("/") else None
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=str(user.id), name=user.full_name or None, username=user.username, is_bot=user.is_bot),
        address=Address(channel=CHANNEL, chat_id=str(msg.chat.id), bot=bot_id, reply_to=str(msg.message_id),
                        callback_id=query.id),
        text=data,
        provider_message_id=None,
        reply_to=str(msg.message_id),
        command=command,
        language_hint=user.language_code,
        sent_at=None,
        received_at=received_at,
        raw=raw,
    )


def _from_edit(update: Update, raw: dict[str, Any], key: str, bot_id: str, received_at: datetime) -> Message | Skipped:
    """An edited message: read only when it is a live location's new position (Telegram sends each as an edit of
    the message that shared it; the last one, without live_period, when the sender stops sharing). Edits of
    other messages (a corrected text) are named and ignored: the report as first sent stands."""
    msg: TgMessage | None = update.edited_message
    if msg is None or msg.chat is None:
        return _reject(raw, "edited_message has no chat", key)
    if msg.location is None or raw["edited_message"].get("venue"):
        return Skipped(CHANNEL, key, "ignored", "edited message (only live location updates are read)", raw)
    user = msg.from_user
    if user is None:
        return _reject(raw, "live location update has no sender", key)
    at = msg.edit_date or msg.date
    point = msg.location
    # No live_period: the sender stopped sharing; the sharing is over at this update.
    until = _live_until(point, msg.date) or at
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=str(user.id), name=user.full_name or None, username=user.username, is_bot=user.is_bot),
        address=Address(channel=CHANNEL, chat_id=str(msg.chat.id), bot=bot_id, reply_to=str(msg.message_id)),
        location=Location(lat=point.latitude, lon=point.longitude, accuracy_m=point.horizontal_accuracy,
                          live_until=until, live_update=True),
        provider_message_id=str(msg.message_id),
        language_hint=user.language_code,
        sent_at=at,
        received_at=received_at,
        raw=raw,
    )


def _live_until(point: TgLocation, sent: datetime) -> datetime | None:
    """When a live location's sharing ends (its message's date + live_period); None for a plain location."""
    period = point.live_period
    if not period:
        return None
    return sent + (period if isinstance(period, timedelta) else timedelta(seconds=period))


_Handler = Callable[[Update, dict[str, Any], str, str, datetime], Message | Skipped]
# Update kind → handler; kinds not in this table are named and ignored.
_HANDLERS: dict[str, _Handler] = {"message": _from_message, "edited_message": _from_edit,
                                  "callback_query": _from_callback}
