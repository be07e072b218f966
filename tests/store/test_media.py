"""The photo store, on SQLite and PostgreSQL: photos only (by their bytes), at most max_bytes, kept once."""
from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from store import db, media
from store.models import MediaBlob

pytestmark = pytest.mark.usefixtures("hub")

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 30


def test_photos_are_known_by_their_bytes() -> None:
    assert media.sniff(JPEG) == "image/jpeg" and media.sniff(PNG) == "image/png"
    assert media.sniff(WEBP) == "image/webp" and media.sniff(b"GIF89a....") == "image/gif"
    assert media.sniff(b"<svg onload=alert(1)>") is None and media.sniff(b"%PDF-1.7") is None


def test_a_photo_is_kept_once_and_loaded_back() -> None:
    with db.session() as s:
        ref = media.save(s, JPEG, max_bytes=1000)
        assert media.save(s, JPEG, max_bytes=1000) == ref  # the same upload twice is one row
    with db.session() as s:
        assert media.load(s, ref) == (JPEG, "image/jpeg")
        assert s.scalar(select(func.count()).select_from(MediaBlob)) == 1
        assert media.load(s, "AgACAgUAAxkB-telegram-file-id") is None
        assert media.load(s, media.PREFIX + "0" * 64) is None


@pytest.mark.parametrize(("data", "reason"), [(b"", "empty"), (JPEG * 20, "at most 1000"),
                                               (b"#!/bin/sh\nrm -rf /", "not a photo")])
def test_what_is_not_kept_says_why(data: bytes, reason: str) -> None:
    with db.session() as s, pytest.raises(media.MediaError, match=reason):
        media.save(s, data, max_bytes=1000)


def test_a_jpeg_loses_its_metadata_and_keeps_its_picture() -> None:
    exif = b"Exif\x00\x00" + b"GPS -6.2245 106.8660 " * 4
    app1 = b"\xff\xe1" + (len(exif) + 2).to_bytes(2, "big") + exif
    comment = b"\xff\xfe" + (9).to_bytes(2, "big") + b"rumahku"
    jfif = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    scan = b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x12\x34\xff\xe1\x56" + b"\xff\xd9"  # bytes after SOS stay
    photo = b"\xff\xd8" + jfif + app1 + comment + scan
    ref, kept = media.prepare(photo, max_bytes=10_000)
    assert kept == b"\xff\xd8" + jfif + scan and b"GPS" not in kept and b"rumahku" not in kept
    assert ref == media.PREFIX + hashlib.sha256(kept).hexdigest()
    # A JPEG that cannot be walked is kept as it came rather than damaged.
    broken = b"\xff\xd8\xff\xe1\xff\xff" + b"\x00" * 10
    assert media.prepare(broken, max_bytes=10_000)[1] == broken


@pytest.mark.parametrize("text, ref", [
    ("media:sha256:" + "ab" * 32, media.MediaRef("crophub", "kept", "ab" * 32)),
    ("https://pbs.twimg.com/media/F1.jpg", media.MediaRef("web", "url", "https://pbs.twimg.com/media/F1.jpg")),
    ("email:sha256:0f0f", media.MediaRef("email", "gone", "sha256:0f0f")),  # as bots/email names a photo it did not keep
    ("telegram:file:123456:AgACAgUAAxkBAAIB", media.MediaRef("telegram", "file", "AgACAgUAAxkBAAIB", "123456")),
])
def test_a_photo_reference_names_the_channel_that_holds_it(text: str, ref: media.MediaRef) -> None:
    assert media.MediaRef.parse(text) == ref
    assert media.MediaRef.parse(str(ref)) == ref


def test_a_channel_file_id_is_only_a_reference_with_its_channel() -> None:
    # Before references carried their channel, anything unrecognised was taken for a Telegram file id.
    assert media.MediaRef.find("AgACAgUAAxkBAAIB") is None and media.MediaRef.find(None) is None
    with pytest.raises(ValueError, match="not a media reference"):
        media.MediaRef.parse("AgACAgUAAxkBAAIB")
    ref = media.MediaRef.of("telegram", "AgACAgUAAxkBAAIB", "123456")
    assert str(ref) == "telegram:file:123456:AgACAgUAAxkBAAIB"
    assert media.MediaRef.of("web", "media:sha256:" + "cd" * 32).kind == "kept"  # what the channel kept stays kept
    assert media.MediaRef.of("twitter", "https://pbs.twimg.com/media/F1.jpg").kind == "url"
