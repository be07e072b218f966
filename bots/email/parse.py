"""An RFC 5322 mail (bytes, as IMAP gives it) → `Message`, or a named skip. Pure: no I/O."""
from __future__ import annotations

import base64
import codecs
import hashlib
import re
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from bots.email.text import clean_subject, html_to_text, is_reply_subject, strip_quotes, subject_adds
from ingest.intake import Skipped
from ingest.message import Address, Media, Message, Sender
from store.media import MediaError, prepare

from bots.email import NAME as CHANNEL  # noqa: E402
MAX_TEXT = 20_000  # characters of body kept as the report's text; the whole mail stays in raw
MAX_KEY = 255  # inbound_messages.key is a String(255)
MAX_REFERENCES = 10  # ids kept in References (the first and the latest), as RFC 5322 §3.6.4 allows
# Headers kept in raw for inspection (the whole source is kept too, base64).
RAW_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To",
               "References", "Content-Type", "Content-Language", "Auto-Submitted", "Precedence", "Return-Path",
               "X-Autoreply", "X-Autorespond")
_MSGID = re.compile(r"<[^<>\s]+>")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
_BULK = ("bulk", "junk", "auto_reply", "auto-reply")


def parse_email(source: bytes, account: str, now: datetime | None = None,
                max_attachment_bytes: int = 5_000_000) -> Message | Skipped:
    """Turn one mail into a Message; auto-replies and our own mail are ignored, unreadable mail rejected."""
    now = now or datetime.now(timezone.utc)
    if not isinstance(source, (bytes, bytearray)) or not source.strip():
        return Skipped(CHANNEL, _source_key(bytes(source or b"")), "rejected", "empty message", {"size": 0})
    source = bytes(source)
    try:
        msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(source)
    except Exception as exc:  # the parser is lenient; whatever still escapes it is the mail's fault
        return _reject(source, None, f"unparseable: {type(exc).__name__}: {exc}")
    try:
        return _parse(msg, source, account.lower(), now, max_attachment_bytes)
    except Exception as exc:  # a malformed mail must not stop the inbox; keep it for inspection
        return _reject(source, msg, f"{type(exc).__name__}: {exc}".replace("\n", " "))


def too_large(header: bytes, size: int, limit: int) -> Skipped:
    """A mail over max_message_bytes, known by its header alone: rejected, its headers kept for inspection."""
    try:
        msg: EmailMessage = BytesHeaderParser(policy=policy.default).parsebytes(header)
        message_id, headers = _msgid(_header(msg, "Message-ID")), _headers(msg)
    except Exception:  # a header even the parser cannot read: the size alone says enough
        message_id, headers = None, {}
    raw = {"headers": headers, "size": size, "header_b64": base64.b64encode(header).decode("ascii")}
    return Skipped(CHANNEL, _key(message_id, header), "rejected",
                   f"message is {size} bytes, over max_message_bytes {limit}: not downloaded", raw)


def _parse(msg: EmailMessage, source: bytes, account: str, now: datetime, max_bytes: int) -> Message | Skipped:
    message_id = _msgid(_header(msg, "Message-ID"))
    key = _key(message_id, source)
    raw: dict[str, Any] = {"headers": _headers(msg), "size": len(source),
                           "source_b64": base64.b64encode(source).decode("ascii")}
    defects = _defects(msg)
    if defects:
        raw["defects"] = defects
    if msg.get_content_maintype() == "multipart" and not isinstance(msg.get_payload(), list):
        # A multipart whose boundary is missing or wrong: try the boundary its first "--" line names.
        msg = _rebound(msg) or msg

    sender_addr, sender_name = _first_address(msg, "From")
    if not sender_addr:
        return Skipped(CHANNEL, key, "rejected", "no sender address (From)" + _because(defects), raw)
    ignored = _why_ignored(msg, sender_addr, account)
    if ignored:
        return Skipped(CHANNEL, key, "ignored", ignored, raw)
    reply_addr = _first_address(msg, "Reply-To")[0]
    if not reply_addr or reply_addr == account:  # a Reply-To naming us would make us answer ourselves
        reply_addr = sender_addr

    subject = _header(msg, "Subject") or ""
    body, dropped = _body(msg)
    command = None
    if body.startswith("/"):
        command = body.split(maxsplit=1)[0].lower()
    in_reply_to = _msgid(_header(msg, "In-Reply-To"))
    references = _MSGID.findall(_header(msg, "References") or "")
    forwarded = bool(re.match(r"^\s*(?:fwd?|tr|wg|trs)\s*:", subject, re.IGNORECASE))
    text = strip_quotes(body, forwarded=forwarded)
    is_reply = bool(in_reply_to) or is_reply_subject(subject)
    topic = clean_subject(subject)
    # A new mail's subject is often the report's headline ("Banjir di Kampung Melayu"); a reply's subject
    # is our own ("Re: Laporan JKT-…") and would drown a short answer such as "sudah" or "2".
    if not command and not is_reply and subject_adds(topic, text):
        text = f"{topic}\n\n{text}".strip()
    text = text[:MAX_TEXT]

    media: list[Media] = []
    blobs: dict[str, bytes] = {}
    for part in _image_parts(msg):
        photo, reason, data = _photo(part, max_bytes)
        if photo is None:
            dropped.append(reason)
        elif photo.file_id not in {m.file_id for m in media}:
            media.append(photo)
            if data:
                blobs[photo.file_id] = data
    if dropped:
        raw["dropped"] = dropped
    if not text and not media:
        if defects:
            return Skipped(CHANNEL, key, "rejected", "nothing readable" + _because(defects), raw)
        return Skipped(CHANNEL, key, "ignored", "empty message: no text and no photo", raw)

    # RFC 5322 §3.6.4: the reply's References are the parent's References (or its In-Reply-To) + its id.
    chain = references or ([in_reply_to] if in_reply_to else [])
    if message_id and message_id not in chain:
        chain = chain + [message_id]
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return Message(
        channel=CHANNEL,
        key=key,
        sender=Sender(id=sender_addr, name=sender_name or None),
        address=Address(channel=CHANNEL, chat_id=reply_addr, bot=account, reply_to=message_id,
                        subject=re.sub(r"\s+", " ", subject).strip() or None,
                        references=" ".join(chain) or None),
        text=text,
        media=media,
        provider_message_id=message_id,
        reply_to=in_reply_to or (references[-1] if references else None),
        command=command,
        language_hint=_language(msg),
        sent_at=_date(msg),
        received_at=now,
        raw=raw,
        blobs=blobs,
    )


# --- headers ------------------------------------------------------------------------------------------

def _clean(value: str) -> str:
    # 8-bit bytes in a header arrive as surrogate escapes: read them as UTF-8 (else Windows-1252), so the
    # text is JSON-safe and a Latin-1 name is still readable.
    if any("\udc80" <= c <= "\udcff" for c in value):
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("cp1252", "replace")
    return value.replace("\x00", "")


def _header(msg: EmailMessage, name: str) -> str | None:
    """A header's decoded value (RFC 2047 words decoded), or None; never raises on a malformed one."""
    try:
        value = msg.get(name)
    except Exception:  # the policy's header parser choked: fall back to the undecoded text
        value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if value is None:
        return None
    return _clean(str(value))


def _headers(msg: EmailMessage) -> dict[str, str]:
    return {name: value for name in RAW_HEADERS if (value := _header(msg, name)) is not None}


def _first_address(msg: EmailMessage, name: str) -> tuple[str | None, str | None]:
    """(address lowercased, display name) of the first valid mailbox in a From/Reply-To header."""
    try:
        header = msg.get(name)
        for addr in getattr(header, "addresses", ()):
            if addr.username and addr.domain:
                return f"{addr.username}@{addr.domain}".lower(), _clean(addr.display_name or "") or None
    except Exception:
        pass
    # The structured parser found no valid mailbox: try the tolerant classic one on the raw text.
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    for display, address in getaddresses([_clean(str(raw))] if raw else []):
        if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address or ""):
            return address.lower(), display or None
    return None, None


def _msgid(value: str | None) -> str | None:
    """A Message-ID normalised to "<id@host>" (angle brackets kept), or None."""
    if not value:
        return None
    found = _MSGID.search(value)
    if found:
        return found.group(0)
    bare = value.strip()
    # Some senders leave the brackets out; a single token with an "@" is still usable.
    if re.fullmatch(r"[^<>\s@]+@[^<>\s@]+", bare):
        return f"<{bare}>"
    return None


def _key(message_id: str | None, source: bytes) -> str:
    if message_id and len(message_id) <= MAX_KEY:
        return message_id
    return _source_key(source)


def _source_key(source: bytes) -> str:
    return "sha256:" + hashlib.sha256(source).hexdigest()


def _why_ignored(msg: EmailMessage, sender: str, account: str) -> str | None:
    """Why a mail is not a citizen's (a mail loop, an autoresponder, a bounce), or None."""
    if sender == account:
        return "sent from our own address (mail loop)"
    auto = (_header(msg, "Auto-Submitted") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"automatic mail (Auto-Submitted: {auto})"
    precedence = (_header(msg, "Precedence") or "").strip().lower()
    if precedence in _BULK:
        return f"automatic mail (Precedence: {precedence})"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response"):
        if _header(msg, name):
            return f"automatic mail ({name})"
    if sender.split("@", 1)[0] in _BOUNCE_SENDERS:
        return f"bounce from {sender}"
    if msg.get_content_type() == "multipart/report":
        return "delivery or read report (multipart/report)"
    if (_header(msg, "Return-Path") or "").strip() == "<>":
        return "bounce (empty Return-Path)"
    return None


def _date(msg: EmailMessage) -> datetime | None:
    value = _header(msg, "Date")
    if not value:
        return None
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return sent if sent.tzinfo else sent.replace(tzinfo=timezone.utc)


def _language(msg: EmailMessage) -> str | None:
    """"id" or "en" (etc.) from Content-Language, of the mail or of its text part."""
    value = _header(msg, "Content-Language")
    if not value:
        for part in msg.walk():
            if part.get_content_maintype() == "text" and part.get("Content-Language"):
                value = _clean(str(part.get("Content-Language")))
                break
    if not value:
        return None
    tag = value.split(",")[0].strip().split("-")[0].lower()
    return tag if re.fullmatch(r"[a-z]{2,3}", tag) else None


def _defects(msg: EmailMessage) -> list[str]:
    names = []
    for part in msg.walk():
        for defect in getattr(part, "defects", []):
            names.append(type(defect).__name__)
    return sorted(set(names))


def _because(defects: list[str]) -> str:
    return f" (broken MIME: {', '.join(defects)})" if defects else ""


def _reject(source: bytes, msg: EmailMessage | None, reason: str) -> Skipped:
    raw: dict[str, Any] = {"size": len(source), "source_b64": base64.b64encode(source).decode("ascii")}
    key = _source_key(source)
    if msg is not None:
        try:
            raw["headers"] = _headers(msg)
            key = _key(_msgid(_header(msg, "Message-ID")), source)
        except Exception:
            pass
    return Skipped(CHANNEL, key, "rejected", reason, raw)


# --- body ---------------------------------------------------------------------------------------------

def _decode(data: bytes, charset: str | None) -> str:
    """Bytes in the declared charset; undecodable bytes replaced, an unknown charset guessed."""
    name = (charset or "").strip().strip('"').lower()
    # Mail clients label Windows-1252 text as Latin-1 or ASCII; WHATWG decodes those labels as 1252 too.
    if name in ("", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso_8859-1"):
        try:
            return data.decode("utf-8") if name in ("", "us-ascii", "ascii") else data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")
    try:
        codecs.lookup(name)
    except LookupError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("cp1252", "replace")
    return data.decode(name, "replace")


def _text_of(part: EmailMessage) -> str:
    """A text part's content, transfer encoding and charset decoded; never raises."""
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        data = payload
    else:
        data = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    return _decode(data, part.get_content_charset()).replace("\x00", "")


def _body_part(msg: EmailMessage) -> tuple[str, str] | None:
    """("plain" | "html", text) of the mail's body: text/plain preferred, else HTML."""
    for kind in ("plain", "html"):
        try:
            part = msg.get_body(preferencelist=(kind,))
        except Exception:
            part = None
        if part is not None and not part.is_multipart():
            return kind, _text_of(part)  # type: ignore[arg-type]
    return None


def _readable(part: EmailMessage) -> str:
    found = _body_part(part)
    if found is None:
        return ""
    kind, text = found
    return html_to_text(text) if kind == "html" else text


def _body(msg: EmailMessage) -> tuple[str, list[dict[str, Any]]]:
    """The mail's text (with any attached forwarded mails') and the non-photo attachments it dropped."""
    dropped: list[dict[str, Any]] = []
    texts = [_readable(msg)]
    for part in msg.walk():
        if part is msg:
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            # A mail forwarded as an attachment: its text is the report.
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):  # policy.default parts
                texts.append(_forwarded_text(inner[0]))
        elif part.get_content_maintype() not in ("text", "image", "message", "multipart"):
            dropped.append({"kind": "unsupported", "filename": _clean(part.get_filename() or ""),
                            "mime_type": ctype, "reason": f"not a photo ({ctype})"})
    return "\n\n".join(t for t in texts if t.strip()), dropped


def _forwarded_text(inner: EmailMessage) -> str:
    subject = clean_subject(_header(inner, "Subject") or "")
    body = strip_quotes(_readable(inner))
    return f"{subject}\n\n{body}".strip() if subject_adds(subject, body) else body


def _rebound(msg: EmailMessage) -> EmailMessage | None:
    payload = msg.get_payload()
    if not isinstance(payload, str):
        return None
    found = re.search(r"^--([^\s-][^\r\n]{0,69}?)\s*$", payload, re.MULTILINE)
    if not found:
        return None
    boundary = found.group(1)
    head = b"".join(f"{k}: {v}\r\n".encode("utf-8", "surrogateescape") for k, v in msg.raw_items()
                    if k.lower() != "content-type")
    head += f'Content-Type: {msg.get_content_type()}; boundary="{boundary}"\r\n\r\n'.encode()
    repaired = BytesParser(policy=policy.default).parsebytes(head + payload.encode("utf-8", "surrogateescape"))
    return repaired if isinstance(repaired.get_payload(), list) else None


# --- photos -------------------------------------------------------------------------------------------

def _image_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [p for p in msg.walk() if p.get_content_maintype() == "image" and not p.is_multipart()]


def _photo(part: EmailMessage, max_bytes: int) -> tuple[Media | None, dict[str, Any], bytes | None]:
    """A photo part as Media (and its bytes when we keep them), or None and why it was dropped (too large,
    empty, undecodable)."""
    ctype = part.get_content_type()
    name = _clean(part.get_filename() or "")
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes) or not data:
        return None, {"kind": "unreadable", "filename": name, "mime_type": ctype, "reason": "empty or undecodable image"}, None
    if len(data) > max_bytes:
        return None, {"kind": "oversized", "filename": name, "mime_type": ctype, "size": len(data),
                      "reason": f"photo {name or ctype} is {len(data)} bytes, over max_attachment_bytes {max_bytes}"}, None
    try:  # kept with the message (store/media.py), so the officers' card and pages can show it
        ref, kept = prepare(data, max_bytes)
    except MediaError:  # an image we cannot show (HEIC, TIFF…): named, and left in the mail
        digest = hashlib.sha256(data).hexdigest()
        return Media(kind="photo", file_id=f"email:sha256:{digest}", size=len(data), mime_type=ctype), {}, None
    return Media(kind="photo", file_id=ref, size=len(kept), mime_type=ctype), {}, kept

