"""Messenger Platform webhook payload (`object: "page"`) → `Message`s, or named skips. Pure: no I/O."""
from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Literal

from pydantic import ValidationError

from ingest.intake import Skipped, payload_key
from ingest.message import Address, Location, Media, Message, Receipt, Sender

from bots.messenger import NAME as CHANNEL

# Parts of a messaging event that are not its kind.
_ENVELOPE = ("sender", "recipient", "timestamp")


def parse_payload(raw: Any, received_at: datetime | None = None) -> list[Message | Skipped]:
    """Every messaging event of one webhook POST, as a Message or a Skipped; a bad envelope is one rejected item."""
    received_at = received_at or datetime.now(timezone.utc)
    if not isinstance(raw, dict):
        return [_reject(raw, f"payload is a {type(raw).__name__}, not a JSON object")]
    if raw.get("object") != "page":
        # The same app may be subscribed to Instagram or other objects: not ours to read here.
        return [Skipped(CHANNEL, payload_key(raw), "ignored", f"webhook object is {raw.get('object')!r}, not 'page'", raw)]
    entries = raw.get("entry")
    if not isinstance(entries, list) or not entries:
        return [_reject(raw, "entry is missing or not a non-empty list")]
    items: list[Message | Skipped] = []
    for entry in entries:
        items.extend(_from_entry(entry, received_at))
    return items


def _from_entry(entry: Any, received_at: datetime) -> list[Message | Skipped]:
    if not isinstance(entry, dict):
        return [_reject(entry, f"entry is a {type(entry).__name__}, not a JSON object")]
    page_id = entry.get("id")
    if not isinstance(page_id, (str, int)) or isinstance(page_id, bool) or not str(page_id):
        return [_reject(entry, "entry has no page id")]
    if "messaging" not in entry:
        # "standby": another app owns the thread (handover protocol); "changes": Page feed fields, not messages.
        kinds = ", ".join(k for k in entry if k not in ("id", "time")) or "nothing"
        return [Skipped(CHANNEL, payload_key(entry), "ignored", f"entry carries {kinds}, not messaging", entry)]
    events = entry["messaging"]
    if not isinstance(events, list):
        return [_reject(entry, "entry.messaging is not a list")]
    return [parse_event(event, str(page_id), received_at) for event in events]


def parse_event(event: Any, page_id: str, received_at: datetime | None = None) -> Message | Skipped:
    """One messaging event of the Page `page_id`: a message or postback → Message; receipts and others skipped."""
    received_at = received_at or datetime.now(timezone.utc)
    if not isinstance(event, dict):
        return _reject(event, f"messaging event is a {type(event).__name__}, not a JSON object")
    kinds = [k for k in event if k not in _ENVELOPE]
    if not kinds:
        return _reject(event, "messaging event carries no content")
    handler = _HANDLERS.get(kinds[0])
    if handler is None:
        return Skipped(CHANNEL, payload_key(event), "ignored", f"unsupported messaging event: {kinds[0]}", event)
    sender = event.get("sender")
    if not isinstance(sender, dict):
        return _reject(event, "messaging event has no sender")
    psid = sender.get("id")
    if not isinstance(psid, (str, int)) or isinstance(psid, bool) or not str(psid):
        if sender.get("user_ref"):  # a website chat plugin guest: no Page-scoped id to store or answer as usual
            return Skipped(CHANNEL, payload_key(event), "ignored", "sender is a chat plugin guest (user_ref, no PSID)",
                           event)
        return _reject(event, "sender has no id")
    try:
        return handler(event, str(psid), page_id, received_at)
    except Exception as exc:  # whatever a malformed event makes a handler raise, it is the event's fault
        return _reject(event, f"{kinds[0]}: {type(exc).__name__}: {exc}".replace("\n", " "))


def _reject(raw: Any, reason: str, key: str | None = None) -> Skipped:
    return Skipped(CHANNEL, key or payload_key(raw), "rejected", reason, raw)


def _from_message(event: dict[str, Any], psid: str, page_id: str, received_at: datetime) -> Message | Skipped:
    message = event["message"]
    if not isinstance(message, dict):
        return _reject(event, "message is not a JSON object")
    mid = message.get("mid")
    if not isinstance(mid, str) or not mid:
        return _reject(event, "message has no mid")
    key = f"{CHANNEL}:{mid}"
    if message.get("is_echo"):
        # Meta echoes what the Page sent (our replies, or an admin typing in the Page inbox).
        return Skipped(CHANNEL, key, "ignored", "our own message (echo)", event)
    text = message.get("text") or ""
    if not isinstance(text, str):
        return _reject(event, "message.text is not a string", key)
    quick = message.get("quick_reply")
    if isinstance(quick, dict) and isinstance(quick.get("payload"), str) and quick["payload"].strip():
        # A tapped quick reply: its payload is read as if the citizen had typed it, like a Telegram button press.
        text = quick["payload"]
    media, location, others = _attachments(message.get("attachments"))
    if not text.strip() and not media and location is None:
        what = ", ".join(others) if others else "empty"
        return Skipped(CHANNEL, key, "ignored", f"unsupported message content: {what}", event)
    reply = message.get("reply_to")
    reply_to = reply.get("mid") if isinstance(reply, dict) and isinstance(reply.get("mid"), str) else None
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=psid),  # the webhook names nobody: a name would cost a User Profile API call
        address=Address(channel=CHANNEL, chat_id=psid, bot=page_id),
        text=text,
        media=media,
        location=location,
        provider_message_id=mid,
        reply_to=reply_to,
        command=_command(text),
        sent_at=_time(event.get("timestamp")),
        received_at=received_at,
        raw=event,
    )


def _attachments(found: Any) -> tuple[list[Media], Location | None, list[str]]:
    """Photos and a shared location from a message's attachments, and the kinds of those left out."""
    media: list[Media] = []
    location: Location | None = None
    others: list[str] = []
    if not isinstance(found, list):
        return media, location, others
    for item in found:
        if not isinstance(item, dict):
            raise ValueError("an attachment is not a JSON object")
        kind = str(item.get("type") or "unknown")
        found_payload = item.get("payload")
        payload: dict[str, Any] = found_payload if isinstance(found_payload, dict) else {}
        if kind == "image" and payload.get("sticker_id") is None and isinstance(payload.get("url"), str):
            # The URL is a CDN link that needs no token but expires: it is the photo's only reference.
            media.append(Media(kind="photo", file_id=payload["url"]))
        elif kind == "location" and isinstance(payload.get("coordinates"), dict):
            point = payload["coordinates"]
            lat, lon = float(point["lat"]), float(point["long"])
            if not (math.isfinite(lat) and math.isfinite(lon)):
                raise ValueError("location coordinates are not finite numbers")
            title = item.get("title")
            location = Location(lat=lat, lon=lon, title=title if isinstance(title, str) else None)
        else:
            # A sticker (sent as an "image" with a sticker_id until Meta's transition ends, then as "sticker"),
            # video, audio, file, a shared link ("fallback"), a reel: nothing a report is made of.
            others.append("sticker" if payload.get("sticker_id") is not None else kind)
    return media, location, others


def _from_postback(event: dict[str, Any], psid: str, page_id: str, received_at: datetime) -> Message | Skipped:
    """A tapped postback button, Get Started or persistent menu item: its payload is read as typed text."""
    postback = event["postback"]
    if not isinstance(postback, dict):
        return _reject(event, "postback is not a JSON object")
    payload = postback.get("payload")
    mid = postback.get("mid")
    if isinstance(mid, str) and mid:
        key = f"{CHANNEL}:{mid}"
    else:
        # Older postbacks carry no mid. Hashed, so that a PSID never shows in a key (keys are logged).
        basis = f"{psid}:{event.get('timestamp')}:{payload}".encode()
        key = f"{CHANNEL}:postback:{hashlib.sha256(basis).hexdigest()[:32]}"
    if not isinstance(payload, str) or not payload.strip():
        return Skipped(CHANNEL, key, "ignored", "postback without payload", event)
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=psid),
        address=Address(channel=CHANNEL, chat_id=psid, bot=page_id),
        text=payload,
        provider_message_id=mid if isinstance(mid, str) and mid else None,
        command=_command(payload),
        sent_at=_time(event.get("timestamp")),
        received_at=received_at,
        raw=event,
    )


def _receipt(kind: str) -> Callable[[dict[str, Any], str, str, datetime], Skipped]:
    """A delivery or read event: kept as ignored for the record (`receipts` reads it), or rejected if unreadable."""

    def skip(event: dict[str, Any], psid: str, page_id: str, received_at: datetime) -> Skipped:
        problem = _receipt_problem(event[kind], kind)
        if problem:
            return _reject(event, problem)
        return Skipped(CHANNEL, payload_key(event), "ignored", f"{kind} receipt", event)

    return skip


def _receipt_problem(body: Any, kind: str) -> str | None:
    if not isinstance(body, dict):
        return f"{kind} is not a JSON object"
    if _time(body.get("watermark")) is None:
        return f"{kind} has no watermark (milliseconds since the epoch)"
    mids = body.get("mids")
    if mids is not None and not (isinstance(mids, list) and all(isinstance(m, str) and m for m in mids)):
        return f"{kind}.mids is not a list of message ids"
    return None


def receipts(raw: Any) -> list[Receipt]:
    """What one webhook POST's delivery and read events say about our replies: delivered or read, by mid where Meta
    names them, and up to the watermark for every reply to that person; anything else is none (and an event that
    cannot be read, parse_payload rejects)."""
    found: list[Receipt] = []
    entries = raw.get("entry") if isinstance(raw, dict) and raw.get("object") == "page" else None
    for entry in entries if isinstance(entries, list) else []:
        events = entry.get("messaging") if isinstance(entry, dict) else None
        for event in events if isinstance(events, list) else []:
            try:
                found.extend(_receipts_of(event, entry["id"]))
            except (KeyError, TypeError, ValueError, ValidationError):
                continue  # stored as rejected by parse_payload; nothing to apply
    return found


def _receipts_of(event: Any, page_id: Any) -> list[Receipt]:
    kind = next((k for k in _RECEIPTS if isinstance(event, dict) and k in event), None)
    if kind is None or _receipt_problem(event[kind], kind):
        return []
    psid, watermark = event["sender"]["id"], _time(event[kind]["watermark"])
    if watermark is None or not isinstance(psid, (str, int)) or isinstance(psid, bool) or not isinstance(page_id, (str, int)):
        return []
    status: Literal["delivered", "read"] = "delivered" if kind == "delivery" else "read"
    # When: a read event's own time; a delivery event has none, and "delivered by the watermark" is what is known.
    at = max(_time(event.get("timestamp")) or watermark, watermark)
    chat = Address(channel=CHANNEL, chat_id=str(psid), bot=str(page_id)).chat_key
    named = [Receipt(provider_id=mid, status=status, at=at) for mid in event[kind].get("mids") or []]
    # The watermark counts whole milliseconds: a reply sent within its last one is covered too.
    up_to = watermark + timedelta(microseconds=999)
    return named + [Receipt(chat_key=chat, up_to=up_to, status=status, at=at)]


def _command(text: str) -> str | None:
    return text.split(maxsplit=1)[0].lower() if text.startswith("/") and text.strip() != "/" else None


def _time(value: Any) -> datetime | None:
    """The event's time: milliseconds since the epoch (seconds, as a string, in the newer test notifications)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    seconds = value / 1000 if value > 10**11 else value
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


_RECEIPTS = ("delivery", "read")  # the messaging events that report on our replies
_Handler = Callable[[dict[str, Any], str, str, datetime], Message | Skipped]
# Messaging event kind → handler; kinds not in this table (reactions, referrals, optins, edits...) are named and ignored.
_HANDLERS: dict[str, _Handler] = {
    "message": _from_message,
    "postback": _from_postback,
    "delivery": _receipt("delivery"),
    "read": _receipt("read"),
}
