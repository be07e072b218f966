"""Photos uploaded to crophub itself, kept in the database (every worker and web process can read them) and
named by reference: "media:sha256:<hex>"; and `MediaRef`, the typed reference of any photo, which says which
channel holds one kept elsewhere (a Telegram file id, a tweet's photo URL)."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.models import MediaBlob, utcnow
from store.ops import dialect_insert

log = logging.getLogger(__name__)

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


def prepare(data: bytes, max_bytes: int) -> tuple[str, bytes]:
    """(reference, bytes to keep) for a photo: a JPEG loses its metadata (EXIF with the GPS position, the
    camera's serial number); raises MediaError when it is not a photo we keep."""
    if not data:
        raise MediaError("the file is empty")
    if len(data) > max_bytes:
        raise MediaError(f"the photo is {len(data)} bytes; at most {max_bytes} are accepted")
    mime = sniff(data)
    if mime is None:
        raise MediaError("not a photo (JPEG, PNG, GIF or WebP)")
    if mime == "image/jpeg":
        data = strip_jpeg_metadata(data)
    return PREFIX + hashlib.sha256(data).hexdigest(), data


def save(session: Session, data: bytes, max_bytes: int) -> str:
    """Keep a photo (once, however often it is uploaded); → its reference."""
    ref, kept = prepare(data, max_bytes)
    keep(session, {ref: kept})
    return ref


# APP1 (EXIF, XMP), APP13 (IPTC) and COM segments say where, when and with what a photo was taken; the picture
# itself needs none of them. APP0 (JFIF) and APP14 (Adobe colour) stay: decoders read them.
_DROPPED = {0xE1, 0xED, 0xFE}


def strip_jpeg_metadata(data: bytes) -> bytes:
    """A JPEG without its metadata segments; the bytes unchanged when they cannot be walked safely."""
    out, i = bytearray(data[:2]), 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return data  # not a segment where one must be: leave the file as it came
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the picture follows, unchanged to the end
            out += data[i:]
            return bytes(out)
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if length < 2 or i + 2 + length > len(data):
            return data
        if marker not in _DROPPED:
            out += data[i:i + 2 + length]
        i += 2 + length
    return data


def keep(session: Session, blobs: dict[str, bytes]) -> None:
    """Keep photos a channel delivered with a message, by the references its Media name (checked here)."""
    rows = []
    for ref, data in blobs.items():
        mime = sniff(data)
        if mime is None or ref != PREFIX + hashlib.sha256(data).hexdigest():
            # A channel's bug, not the sender's: the message is still kept, its photo shows as missing.
            log.error("media: %s… does not name the bytes given, or they are not a photo; not kept", ref[:24])
            continue
        rows.append({"sha256": ref[len(PREFIX):], "mime_type": mime, "size": len(data), "data": data,
                     "created_at": utcnow()})
    if rows:
        session.execute(dialect_insert(session, MediaBlob).on_conflict_do_nothing(index_elements=["sha256"]), rows)


@dataclass(frozen=True)
class MediaRef:
    """Where a photo is, and so who can fetch it. Stored on tickets and replies as its text form (str()):
    "media:sha256:<hex>" kept here, a public URL, or "<channel>:<kind>:<holder>:<id>" held by a channel."""

    channel: str  # the channel holding it ("crophub": kept here; "web": a public link)
    kind: Literal["file", "url", "kept", "gone"]  # gone: left where it came from, not fetchable (a mail's photo)
    id: str  # the channel's file id, the URL, or the kept bytes' sha256
    holder: str = ""  # who may fetch a "file": Telegram file ids are valid only for the bot that received them

    def __str__(self) -> str:
        if self.kind == "kept":
            return PREFIX + self.id
        if self.kind == "url":
            return self.id
        return f"{self.channel}:{self.kind}:{self.holder}:{self.id}"

    @classmethod
    def parse(cls, ref: str) -> "MediaRef":
        """The reference a stored text names; ValueError for text that names none."""
        if ref.startswith(PREFIX) and len(ref) == len(PREFIX) + 64:
            return cls("crophub", "kept", ref[len(PREFIX):])
        if ref.startswith(("https://", "http://")):
            return cls("web", "url", ref)
        if ref.startswith("email:sha256:"):  # a mailed photo not kept (too large), as bots/email names it
            return cls("email", "gone", ref[len("email:"):])
        channel, kind, holder, found = (ref.split(":", 3) + ["", "", ""])[:4]
        if channel and kind in ("file", "gone") and found:
            return cls(channel, cast(Literal["file", "gone"], kind), found, holder)
        raise ValueError(f"not a media reference: {ref[:40]!r}")

    @classmethod
    def find(cls, ref: str | None) -> "MediaRef | None":
        """The reference a stored text names, or None (nothing stored, or text that names none)."""
        try:
            return cls.parse(ref) if ref else None
        except ValueError:
            return None

    @classmethod
    def of(cls, channel: str, file_id: str, holder: str | None = None) -> "MediaRef":
        """The reference for a message's Media: what the channel gave (kept bytes, a URL), else its own file id."""
        try:
            return cls.parse(file_id)
        except ValueError:
            return cls(channel, "file", file_id, holder or "")


def is_ref(ref: str | None) -> bool:
    """Whether `ref` names a photo kept here."""
    return ref is not None and ref.startswith(PREFIX) and len(ref) == len(PREFIX) + 64


def load(session: Session, ref: str) -> tuple[bytes, str] | None:
    """(bytes, MIME type) of a kept photo; None when the reference is not one of ours or is unknown."""
    if not is_ref(ref):
        return None
    row = session.execute(select(MediaBlob.data, MediaBlob.mime_type)
                          .where(MediaBlob.sha256 == ref[len(PREFIX):])).first()
    return (bytes(row[0]), row[1]) if row else None
