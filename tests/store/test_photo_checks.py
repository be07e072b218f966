"""The checks of an officer's "done" photo, as pure functions over photos the tests make (Pillow JPEGs with the EXIF
a phone writes): its EXIF time against the report's, its GPS position against the ticket's point, its perceptual
hash against earlier photos; and the metadata they read is gone from the photo kept."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from store import media
from store import photo_checks as checks
from tests.photos import has_exif, jpeg, picture

WIB = ZoneInfo("Asia/Jakarta")
POINT = (-6.2245, 106.8660)  # Jl. Jatinegara Barat
TWO_KM_NORTH = (-6.2065, 106.8660)  # 0.018° of latitude: 2.0 km
LIMITS = checks.Limits()
REPORTED = datetime(2026, 1, 10, 1, 0, tzinfo=timezone.utc)  # 08:00 WIB


def test_the_exif_time_and_place_are_read_and_gone_from_the_photo_kept() -> None:
    photo = jpeg(1, gps=POINT, taken="2026:01:10 09:30:00")
    exif = checks.read_exif(photo, WIB)
    assert exif.taken_at == datetime(2026, 1, 10, 9, 30, tzinfo=WIB)  # a phone writes its local time
    assert exif.point is not None and exif.point == pytest.approx(POINT, abs=1e-6)
    _, kept = media.prepare(photo, max_bytes=10_000_000)
    assert has_exif(photo) and not has_exif(kept)
    assert checks.read_exif(kept, WIB) == checks.Exif()
    assert checks.fingerprint(kept) == checks.fingerprint(photo)  # the picture is the same without its metadata


def test_an_offset_written_with_the_time_wins_and_north_east_are_positive() -> None:
    exif = checks.read_exif(jpeg(2, gps=(1.3521, 103.8198), taken="2026:01:10 09:30:00", offset="+08:00"), WIB)
    assert exif.taken_at == datetime(2026, 1, 10, 1, 30, tzinfo=timezone.utc)
    assert exif.point == pytest.approx((1.3521, 103.8198), abs=1e-6)


def test_a_photo_taken_before_the_report_is_flagged() -> None:
    before = checks.check_time(REPORTED - timedelta(days=2), REPORTED, LIMITS)
    assert before is not None and before.code == checks.BEFORE_REPORT
    assert before.label == "foto diambil sebelum laporan dibuat"
    # A camera clock a few minutes behind is let be, and a photo after the report is what is expected.
    assert checks.check_time(REPORTED - timedelta(minutes=5), REPORTED, LIMITS) is None
    assert checks.check_time(REPORTED + timedelta(hours=3), REPORTED, LIMITS) is None
    assert checks.check_time(None, REPORTED, LIMITS) is None
    strict = checks.Limits(time_slack_minutes=0)
    assert checks.check_time(REPORTED - timedelta(minutes=5), REPORTED, strict) is not None


def test_a_photo_taken_away_from_the_ticket_s_point_is_flagged() -> None:
    assert checks.distance_m(POINT, TWO_KM_NORTH) == pytest.approx(2001, abs=5)
    far = checks.check_place(TWO_KM_NORTH, POINT, LIMITS)
    assert far is not None and far.code == checks.OFF_SITE and far.label == "foto tidak di lokasi"
    assert far.detail == "diambil 2,0 km dari titik laporan (batas 300 m)"
    assert checks.check_place((-6.2254, 106.8660), POINT, LIMITS) is None  # 100 m: at the place
    assert checks.check_place(TWO_KM_NORTH, POINT, checks.Limits(max_distance_m=2500)) is None  # configurable
    assert checks.check_place(None, POINT, LIMITS) is None and checks.check_place(TWO_KM_NORTH, None, LIMITS) is None


def test_the_exif_checks_together() -> None:
    photo = jpeg(3, gps=TWO_KM_NORTH, taken="2026:01:08 10:00:00")
    found = checks.check_exif(checks.read_exif(photo, WIB), REPORTED, POINT, LIMITS)
    assert [f.code for f in found] == [checks.BEFORE_REPORT, checks.OFF_SITE]
    here = jpeg(3, gps=POINT, taken="2026:01:10 15:00:00")
    assert checks.check_exif(checks.read_exif(here, WIB), REPORTED, POINT, LIMITS) == []


def _recompressed(data: bytes, quality: int, scale: float) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        smaller = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    smaller.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_the_same_picture_is_found_again_after_recompression_and_others_are_not() -> None:
    citizen = jpeg(4, gps=POINT)
    officer = _recompressed(citizen, quality=55, scale=0.5)  # what a chat app makes of a forwarded photo
    other = [checks.Earlier(str(checks.fingerprint(jpeg(seed))), f"foto {seed}") for seed in (5, 6, 7)]
    earlier = other + [checks.Earlier(str(checks.fingerprint(citizen)), "foto pelapor tiket ini")]
    same = checks.check_same(checks.fingerprint(officer), earlier, LIMITS)
    assert same is not None and same.code == checks.SAME_PHOTO and same.label == "foto sama dengan laporan lain"
    assert same.detail.startswith("sama dengan foto pelapor tiket ini")
    assert checks.check_same(checks.fingerprint(jpeg(8)), earlier, LIMITS) is None
    assert checks.check_same(None, earlier, LIMITS) is None and checks.check_same(checks.fingerprint(citizen), [], LIMITS) is None


def test_the_test_pictures_are_far_apart_by_their_hashes() -> None:
    """Guards the test above: different seeds draw pictures no threshold near the default would take as one."""
    hashes = [str(checks.fingerprint(jpeg(seed))) for seed in range(1, 9)]
    assert min(checks.hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]) > 3 * LIMITS.hash_distance


@pytest.mark.parametrize("data", [
    b"", b"not a photo at all", b"\xff\xd8\xff\xd9",  # the fake Bot API's file
    jpeg(9)[:400],  # cut off in its header
    jpeg(9, taken="0000:00:00 00:00:00", gps=(0.0, 0.0)),  # what a camera without a clock or fix writes
])
def test_what_cannot_be_read_is_no_metadata_and_no_error(data: bytes) -> None:
    assert checks.read_exif(data, WIB) == checks.Exif()


def test_a_picture_without_exif_is_still_hashed_and_junk_is_not() -> None:
    out = io.BytesIO()
    picture(10).save(out, "PNG")
    assert checks.read_exif(out.getvalue(), WIB) == checks.Exif()
    assert checks.fingerprint(out.getvalue()) is not None
    assert checks.fingerprint(b"\xff\xd8\xff\xd9") is None and checks.fingerprint(jpeg(9)[:400]) is None
