"""A Cloud API webhook notification (one POST: entries → changes → messages and statuses) → `Message`s, or named
skips. Pure: no I/O.

Each item keeps, as its raw payload, a notification of its own: the envelope with only its change, and in it only
its message (or status) and its sender's contact, so that a stored payload parses again to the same item."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from pydantic import ValidationError

from ingest.intake import Skipped, payload_key
from ingest.message import Address, Location, Media, Message, Receipt, Sender

from bots.whatsapp import NAME as CHANNEL  # noqa: E402

OBJECT = "whatsapp_business_account"  # the `object` of every WhatsApp notification
PREFIX = "whatsapp:"  # idempotency keys: "whatsapp:" + the message's wamid


class _Ignored(Exception):
    """A message of a kind the hub does not read: stored as ignored with this reason."""


def parse_payload(raw: Any, received_at: datetime | None = None) -> list[Message | Skipped]:
    """Every message and status of one webhook notification, as Messages and skips. A notification that cannot be
    read at all is one rejected item; a change of another field than `messages` is one ignored item."""
    received_at = received_at or datetime.now(timezone.utc)
    if not isinstance(raw, dict):
        return [_reject(raw, f"notification is a {type(raw).__name__}, not a JSON object")]
    if raw.get("object") != OBJECT:
        return [Skipped(CHANNEL, payload_key(raw), "ignored", f"not a WhatsApp notification: object {raw.get('object')!r}",
                        raw)]
    entries = raw.get("entry")
    if not isinstance(entries, list) or not entries:
        return [_reject(raw, "entry is missing or not a list")]
    items: list[Message | Skipped] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            items.append(_reject(_envelope(entry, None), "entry has no list of changes"))
            continue
        for change in changes:
            items.extend(_change(entry, change, received_at))
    return items


def _change(entry: dict[str, Any], change: Any, received_at: datetime) -> list[Message | Skipped]:
    wrapped = _envelope(entry, change)
    if not isinstance(change, dict):
        return [_reject(wrapped, f"change is a {type(change).__name__}, not a JSON object")]
    field = change.get("field")
    if field != "messages":
        return [Skipped(CHANNEL, payload_key(wrapped), "ignored", f"unsupported field: {field}", wrapped)]
    value = change.get("value")
    if not isinstance(value, dict):
        return [_reject(wrapped, "change has no value object")]
    metadata = value.get("metadata")
    phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
    if not isinstance(phone_number_id, (str, int)) or isinstance(phone_number_id, bool) or not str(phone_number_id):
        return [_reject(wrapped, "value has no metadata.phone_number_id")]
    messages, statuses = value.get("messages"), value.get("statuses")
    items: list[Message | Skipped] = []
    for msg in messages if isinstance(messages, list) else []:
        items.append(_message(msg, _single(entry, value, "messages", msg), str(phone_number_id), received_at))
    for status in statuses if isinstance(statuses, list) else []:
        items.append(_status(status, _single(entry, value, "statuses", status)))
    if not items:
        errors = value.get("errors")
        reason = f"error notification: {_error_text(errors)}" if errors else "no messages or statuses"
        items.append(Skipped(CHANNEL, payload_key(wrapped), "ignored", reason, wrapped))
    return items


def _message(msg: Any, raw: dict[str, Any], bot: str, received_at: datetime) -> Message | Skipped:
    if not isinstance(msg, dict):
        return _reject(raw, f"message is a {type(msg).__name__}, not a JSON object")
    wamid = msg.get("id")
    if not isinstance(wamid, str) or not wamid:
        return _reject(raw, "message has no id")
    key = PREFIX + wamid
    wa_id = msg.get("from")
    if not isinstance(wa_id, str) or not wa_id:
        return _reject(raw, "message has no sender (from)", key)
    kind = msg.get("type")
    handler = _HANDLERS.get(str(kind))
    try:
        if handler is None:
            detail = f" ({_error_text(msg['errors'])})" if msg.get("errors") else ""
            raise _Ignored(f"unsupported message type: {kind}{detail}")
        content = handler(msg)
        contact = _contact(raw, wa_id)
        text = content.get("text", "")
        context = msg.get("context")
        replied = context.get("id") if isinstance(context, dict) else None
        return Message(
            channel=CHANNEL,
            key=key,
            sender=Sender(id=wa_id, name=_name(contact)),
            address=Address(channel=CHANNEL, chat_id=wa_id, bot=bot, reply_to=wamid),
            text=text,
            media=content.get("media", []),
            location=content.get("location"),
            provider_message_id=wamid,
            # A reply to one of our messages, or a press on its button: the message it answers.
            reply_to=replied if isinstance(replied, str) and replied else None,
            # A button's value is read as if typed ("/beres JKT-..."), as a Telegram button press is.
            command=text.split(maxsplit=1)[0].lower() if text.startswith("/") else None,
            sent_at=_time(msg.get("timestamp")),
            received_at=received_at,
            raw=raw,
        )
    except _Ignored as exc:
        return Skipped(CHANNEL, key, "ignored", str(exc), raw)
    except Exception as exc:  # whatever a malformed message makes the mapping raise, it is the message's fault
        if isinstance(exc, ValidationError):
            reason = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        else:
            reason = f"{type(exc).__name__}: {exc}"
        return _reject(raw, f"{kind}: {reason}".replace("\n", " "), key)


def _status(status: Any, raw: dict[str, Any]) -> Skipped:
    """A sent, delivered, read or failed report on one of our messages: kept for the record (`receipts` reads it)."""
    if not isinstance(status, dict) or not isinstance(status.get("id"), str):
        return _reject(raw, "status has no message id")
    return Skipped(CHANNEL, f"{PREFIX}status:{status['id']}:{status.get('status')}", "ignored", "status callback", raw)


def _text(msg: dict[str, Any]) -> dict[str, Any]:
    body = msg["text"]["body"]
    if not isinstance(body, str):
        raise TypeError(f"text.body is a {type(body).__name__}")
    return {"text": body}


def _image(msg: dict[str, Any]) -> dict[str, Any]:
    image = msg["image"]
    media_id = image.get("id")
    if not isinstance(media_id, str) or not media_id:
        raise ValueError("image has no media id")
    caption = image.get("caption") or ""
    if not isinstance(caption, str):
        raise TypeError(f"image.caption is a {type(caption).__name__}")
    # The media id is the file id: the sender downloads it (GET /<media id>) for the dashboard.
    return {"text": caption, "media": [Media(kind="photo", file_id=media_id, mime_type=image.get("mime_type"))]}


def _location(msg: dict[str, Any]) -> dict[str, Any]:
    point = msg["location"]
    lat, lon = point["latitude"], point["longitude"]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon)):
        raise TypeError("latitude and longitude must be numbers")
    # A pin has only its coordinates; a place picked from the list also has its name and address.
    title = ", ".join(str(part) for part in (point.get("name"), point.get("address")) if part) or None
    return {"location": Location(lat=lat, lon=lon, title=title)}


def _interactive(msg: dict[str, Any]) -> dict[str, Any]:
    """A press on a reply button or a pick from a list we sent: its id is the value, read as typed."""
    interactive = msg["interactive"]
    kind = interactive.get("type")
    if kind not in ("button_reply", "list_reply"):
        raise _Ignored(f"unsupported interactive reply: {kind}")
    value = interactive[kind].get("id")
    if not isinstance(value, str) or not value.strip():
        raise _Ignored(f"{kind} without an id")
    return {"text": value}


# Message type → what it holds; other types (sticker, audio, video, document, contacts, reaction, a template's
# quick-reply button, an unsupported message) are named and ignored.
_HANDLERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "text": _text, "image": _image, "location": _location, "interactive": _interactive}


def _reject(raw: Any, reason: str, key: str | None = None) -> Skipped:
    return Skipped(CHANNEL, key or payload_key(raw), "rejected", reason, raw)


def _envelope(entry: Any, change: Any) -> dict[str, Any]:
    """A notification holding only `entry`'s `change` (or the entry as it came, when it has no changes to read)."""
    if change is None or not isinstance(entry, dict):
        return {"object": OBJECT, "entry": [entry]}
    return {"object": OBJECT, "entry": [{"id": entry.get("id"), "changes": [change]}]}


def _single(entry: dict[str, Any], value: dict[str, Any], kind: str, item: Any) -> dict[str, Any]:
    """The notification of one message or status: its value keeps the metadata, the item and its sender's contact."""
    own = {k: v for k, v in value.items() if k not in ("messages", "statuses", "contacts")}
    sender = item.get("from") if isinstance(item, dict) else None
    found = value.get("contacts")
    contacts: list[Any] = found if isinstance(found, list) else []
    mine = [c for c in contacts if isinstance(c, dict) and c.get("wa_id") == sender]
    if kind == "messages" and (mine or contacts):
        own["contacts"] = mine or contacts[:1]
    own[kind] = [item]
    return {"object": OBJECT, "entry": [{"id": entry.get("id"), "changes": [{"field": "messages", "value": own}]}]}


def _contact(raw: dict[str, Any], wa_id: str) -> dict[str, Any]:
    contacts = raw["entry"][0]["changes"][0]["value"].get("contacts") or []
    return next((c for c in contacts if isinstance(c, dict) and c.get("wa_id") == wa_id),
                contacts[0] if contacts and isinstance(contacts[0], dict) else {})


def _name(contact: dict[str, Any]) -> str | None:
    profile = contact.get("profile")
    name = profile.get("name") if isinstance(profile, dict) else None
    return name if isinstance(name, str) and name.strip() else None


def _time(value: Any) -> datetime | None:
    """A notification's timestamp (Unix seconds, sent as a string) as a UTC time; None when there is none."""
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), timezone.utc)


def _error_text(errors: Any) -> str:
    """The first error of a notification, as "<code> <title>"."""
    first = errors[0] if isinstance(errors, list) and errors else errors
    if not isinstance(first, dict):
        return str(first)[:200]
    return " ".join(str(first[k]) for k in ("code", "title") if first.get(k) is not None) or "unknown error"


def receipts(raw: Any) -> list[Receipt]:
    """The status callbacks of one notification (sent, delivered, read, failed), for the replies they are about;
    anything else in it, or a status that cannot be read, is not one."""
    found: list[Receipt] = []
    for entry in raw.get("entry") or [] if isinstance(raw, dict) else []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) and change.get("field") == "messages" else None
            for status in (value.get("statuses") or []) if isinstance(value, dict) else []:
                try:
                    found.append(Receipt(provider_id=status["id"], status=status["status"],
                                         at=datetime.fromtimestamp(int(status["timestamp"]), timezone.utc),
                                         error=_error_text(status["errors"]) if status.get("errors") else None))
                except (KeyError, TypeError, ValueError, ValidationError):
                    continue  # stored as the notification it came in; nothing to apply
    return found
