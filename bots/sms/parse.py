"""An inbound SMS webhook payload (form fields or JSON, as the gateway posts it) → `Message`, or a named skip.
Pure: no I/O."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from ingest.intake import Skipped, payload_key
from ingest.message import Address, Message, Receipt, Sender

from bots.sms import NAME as CHANNEL
from bots.sms.config import Fields

# Keys only a delivery report (a status callback about one of our replies) carries, posted by gateways set up
# to send them to the same URL: Twilio's MessageStatus, Vonage's err-code. They are not citizens' messages.
_REPORT_KEYS = ("MessageStatus", "err-code")
# A delivery report's status → what the outbox keeps (store/receipts.py); others (queued, sent, accepted,
# buffered, unknown...) change nothing. Twilio: MessageStatus (ErrorCode when it failed); Vonage: status, err-code.
_TWILIO_STATUS = {"delivered": "delivered", "read": "read", "undelivered": "failed", "failed": "failed"}
_VONAGE_STATUS = {"delivered": "delivered", "expired": "failed", "failed": "failed", "rejected": "failed"}


def masked(number: str | None) -> str:
    """A phone number for the logs: all but its last 3 digits hidden."""
    if not number:
        return "-"
    return "*" * max(len(number) - 3, 0) + number[-3:]


def parse(raw: Any, fields: Fields, received_at: datetime | None = None) -> Message | Skipped:
    """Turn one inbound payload into a Message; delivery reports and binary SMS are ignored, malformed ones rejected."""
    received_at = received_at or datetime.now(timezone.utc)
    if not isinstance(raw, dict):
        return _reject(raw, f"payload is a {type(raw).__name__}, not an object of fields")
    if any(k in raw for k in _REPORT_KEYS):  # whatever the preset: a gateway may post them to the inbound URL
        return _report(raw)
    message_id = _text(raw.get(fields.message_id))
    if not message_id:
        return _reject(raw, f"{fields.message_id} (the message id) is missing or empty")
    key = f"{CHANNEL}:{message_id}"
    kind = _kind(raw, fields)
    if not kind:
        return _reject(raw, f"{fields.kind} (the message type) is missing or empty", key)
    handler = _HANDLERS.get(kind)
    if handler is None:
        return Skipped(CHANNEL, key, "ignored", f"unsupported message type: {kind}", raw)
    return handler(raw, fields, key, message_id, received_at)


def receipts(raw: Any, received_at: datetime | None = None) -> list[Receipt]:
    """What a delivery report (Twilio's status callback, Vonage's delivery receipt) says about the reply it is
    about, as the outbox keeps it; [] for anything else, or a status that changes nothing."""
    if not isinstance(raw, dict):
        return []
    at = received_at or datetime.now(timezone.utc)
    if "MessageStatus" in raw:
        sid, said, code = _text(raw.get("MessageSid")), _text(raw.get("MessageStatus")).lower(), _text(raw.get("ErrorCode"))
        status = _TWILIO_STATUS.get(said)
    elif "err-code" in raw:
        sid, said, code = _text(raw.get("messageId")), _text(raw.get("status")).lower(), _text(raw.get("err-code"))
        status = _VONAGE_STATUS.get(said)
        at = _when(raw.get("message-timestamp")) or at
    else:
        return []
    if not sid or status is None:
        return []
    error = (f"{said} (error {code})" if code and code != "0" else said) if status == "failed" else None
    return [Receipt(provider_id=sid, status=status, at=at, error=error)]


def _kind(raw: dict[str, Any], fields: Fields) -> str:
    if fields.kind is None:
        return "text"
    return _text(raw.get(fields.kind))


def _reject(raw: Any, reason: str, key: str | None = None) -> Skipped:
    return Skipped(CHANNEL, key or payload_key(raw), "rejected", reason, raw)


def _text(value: Any) -> str:
    # Form fields are strings; a JSON gateway may send a number as a number (an id, a timestamp).
    if isinstance(value, bool) or value is None:
        return ""
    return str(value).strip() if isinstance(value, (str, int)) else ""


def _from_text(raw: dict[str, Any], fields: Fields, key: str, message_id: str, received_at: datetime) -> Message | Skipped:
    # Numbers are kept as the gateway writes them ("+62812…" at Twilio, "62812…" at Vonage): a reply goes back
    # through the same gateway, which wants them the same way.
    number, ours = _text(raw.get(fields.sender)), _text(raw.get(fields.recipient))
    if not number:
        return _reject(raw, f"{fields.sender} (the sender's number) is missing or empty", key)
    value = raw.get(fields.text)
    if value is not None and not isinstance(value, str):
        return _reject(raw, f"{fields.text} (the text) is a {type(value).__name__}, not text", key)
    text = (value or "").strip()
    if not text:
        return Skipped(CHANNEL, key, "ignored", "empty message", raw)
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=number),
        address=Address(channel=CHANNEL, chat_id=number, bot=ours or None),
        text=text,
        provider_message_id=message_id,
        command=text.split(maxsplit=1)[0].lower() if text.startswith("/") else None,
        sent_at=_when(raw.get(fields.received_at)) if fields.received_at else None,
        received_at=received_at,
        raw=raw,
    )


def _report(raw: dict[str, Any]) -> Skipped:
    """A delivery report, kept for the record, one row per status of a reply (`receipts` applies it to the outbox)."""
    twilio = "MessageStatus" in raw
    sid = _text(raw.get("MessageSid" if twilio else "messageId"))
    if not sid:
        return _reject(raw, f"delivery report without {'MessageSid' if twilio else 'messageId'}")
    status = _text(raw.get("MessageStatus" if twilio else "status")) or "unknown"
    return Skipped(CHANNEL, f"{CHANNEL}:status:{sid}:{status[:20]}", "ignored", "delivery report of a sent SMS", raw)


def _ignore(reason: str) -> _Handler:
    def skip(raw: dict[str, Any], fields: Fields, key: str, message_id: str, received_at: datetime) -> Skipped:
        return Skipped(CHANNEL, key, "ignored", reason, raw)
    return skip


def _when(value: Any) -> datetime | None:
    """A gateway's timestamp: ISO 8601, "YYYY-MM-DD HH:MM:SS" in UTC (Vonage), or unix seconds; None if unreadable."""
    text = _text(value)
    if not text:
        return None
    if text.isdigit():
        return datetime.fromtimestamp(int(text), timezone.utc)
    try:
        when = datetime.fromisoformat(text.replace(" +0000", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # Vonage writes UTC without an offset


_Handler = Callable[[dict[str, Any], Fields, str, str, datetime], Message | Skipped]
# Message type → handler ("text" for gateways that name no type; Vonage's type otherwise); other types are ignored.
_HANDLERS: dict[str, _Handler] = {
    "text": _from_text,
    "unicode": _from_text,  # Vonage: a text with characters outside GSM-7 (already decoded to UTF-8)
    "binary": _ignore("binary SMS (a ringtone, a WAP push, an operator's configuration message)"),
}
