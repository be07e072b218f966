"""Photos uploaded to crophub itself, kept in the database (every worker and web process can read them) and
named by reference: "media:sha256:<hex>". Other channels' references (a Telegram file id, a tweet's photo URL)
stay with their channel."""
from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import MediaBlob, utcnow
from store.ops import dialect_insert

PREFIX = "media:sha256:"
# Photos only, known by their first bytes (a browser's Content-Type is whatever the file name suggested).
_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
               (b"GIF89a", "image/gif"))


class MediaError(ValueError):
    """An upload that is not kept (the message says why, for the uploader)."""


def sniff(data: bytes) -> str | None:
    """The photo type of `data` (JPEG, PNG, GIF or WebP), or None when it is not one."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _SIGNATURES if data.startswith(magic)), None)


def save(session: Session, data: bytes, max_bytes: int) -> str:
    """Keep a photo (once, however often it is uploaded); → its reference."""
    if not data:
        raise MediaError("the file is empty")
    if len(data) > max_bytes:
        raise MediaError(f"the photo is {len(data)} bytes; at most {max_bytes} are accepted")
    mime = sniff(data)
    if mime is None:
        raise MediaError("not a photo (JPEG, PNG, GIF or WebP)")
    digest = hashlib.sha256(data).hexdigest()
    row = {"sha256": digest, "mime_type": mime, "size": len(data), "data": data, "created_at": utcnow()}
    session.execute(dialect_insert(session, MediaBlob).values(row).on_conflict_do_nothing(index_elements=["sha256"]))
    return PREFIX + digest


def is_ref(ref: str | None) -> bool:
    """Whether `ref` names a photo kept here."""
    return bool(ref) and ref.startswith(PREFIX) and len(ref) == len(PREFIX) + 64  # type: ignore[union-attr]


def load(session: Session, ref: str) -> tuple[bytes, str] | None:
    """(bytes, MIME type) of a kept photo; None when the reference is not one of ours or is unknown."""
    if not is_ref(ref):
        return None
    row = session.execute(select(MediaBlob.data, MediaBlob.mime_type)
                          .where(MediaBlob.sha256 == ref[len(PREFIX):])).first()
    return (bytes(row[0]), row[1]) if row else None
