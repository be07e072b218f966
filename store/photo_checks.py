"""Checks of an officer's "done" photo, as pure functions (bytes and facts in, findings out): when it was taken (its
EXIF time) against when the report came, where (its EXIF GPS position) against the ticket's point, and whether it is
the same picture as another (a perceptual hash, which survives re-compression and resizing). A photo's metadata is
read here from the bytes as they came, before store.media strips it; only the hash is kept."""
from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Callable, Literal

from PIL import ExifTags, Image

# Codes of what a check found, as stored (store.models.TicketFlag.code); the supervisor reads LABELS.
Code = Literal["before_report", "off_site", "same_photo"]
BEFORE_REPORT: Code = "before_report"
OFF_SITE: Code = "off_site"
SAME_PHOTO: Code = "same_photo"
LABELS: dict[str, str] = {
    BEFORE_REPORT: "foto diambil sebelum laporan dibuat",
    OFF_SITE: "foto tidak di lokasi",
    SAME_PHOTO: "foto sama dengan laporan lain",
}
HASH_SIZE = 8  # 64-bit pHash: 16 hex characters
_EARTH_M = 6_371_000.0
# Decoding for the hash only needs a small picture: a JPEG is decoded straight at a fraction of its size.
_DRAFT = (256, 256)


@dataclass(frozen=True)
class Limits:
    """How far a photo may stray before it is flagged (checks.* in config.yaml's tickets.closure_checks)."""

    max_distance_m: float = 300.0  # from the ticket's point to where the photo was taken
    hash_distance: int = 5  # differing bits of two 64-bit pHashes still counted the same picture
    time_slack_minutes: float = 10.0  # a camera clock this much behind the report is not flagged


@dataclass(frozen=True)
class Exif:
    """What a photo's EXIF says of when and where it was taken (None: it does not say, or not readably)."""

    taken_at: datetime | None = None  # timezone-aware
    point: tuple[float, float] | None = None  # (lat, lon)


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong with a photo: its code (LABELS names it) and the detail, in Indonesian."""

    code: Code
    detail: str

    @property
    def label(self) -> str:
        """The reason as supervisors read it ("foto tidak di lokasi")."""
        return LABELS[self.code]


@dataclass(frozen=True)
class Earlier:
    """A photo seen before, by its hash: `what` names it for the supervisor ("foto pelapor JKT-2026-000012")."""

    phash: str
    what: str


def _open(data: bytes) -> Image.Image | None:
    try:
        with warnings.catch_warnings():  # a huge picture is refused below, not warned about
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except Exception:  # bytes from the outside: Pillow raises many kinds of error for what it cannot read
        return None


def read_exif(data: bytes, local: tzinfo) -> Exif:
    """When and where the photo says it was taken; a time without its own offset is read in `local` (the city's
    clock, which phones write). Never raises: unreadable metadata is no metadata."""
    image = _open(data)
    if image is None:
        return Exif()
    try:
        exif = image.getexif()
        return Exif(_taken_at(exif, local), _point(exif.get_ifd(ExifTags.IFD.GPSInfo)))
    except Exception:  # a damaged EXIF block: Pillow's parser raises assorted errors
        return Exif()
    finally:
        image.close()


def _taken_at(exif: Image.Exif, local: tzinfo) -> datetime | None:
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for stamp_tag, offset_tag in ((ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal),
                                  (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized)):
        found = _stamp(sub.get(stamp_tag), sub.get(offset_tag), local)
        if found is not None:
            return found
    return _stamp(exif.get(ExifTags.Base.DateTime), exif.get(ExifTags.Base.OffsetTime), local)


def _stamp(value: Any, offset: Any, local: tzinfo) -> datetime | None:
    """An EXIF "YYYY:MM:DD HH:MM:SS" with its optional "+07:00"; None for the zeros some cameras write."""
    if not isinstance(value, str):
        return None
    try:
        naive = datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str):
        try:
            return datetime.strptime(f"{naive:%Y-%m-%d %H:%M:%S}{offset.strip()}", "%Y-%m-%d %H:%M:%S%z")
        except ValueError:
            pass
    return naive.replace(tzinfo=local)


def _point(gps: dict[int, Any]) -> tuple[float, float] | None:
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat, lon) == (0.0, 0.0):
        return None  # 0,0 is what a phone without a fix writes
    return lat, lon


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    """Degrees, minutes, seconds (three rationals) as signed decimal degrees."""
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    found = d + m / 60 + s / 3600
    if not math.isfinite(found):
        return None
    side = ref.decode("ascii", "replace") if isinstance(ref, bytes) else str(ref or "")
    return -found if side.strip("\x00 ").upper() == negative else found


def fingerprint(data: bytes) -> str | None:
    """The photo's perceptual hash (16 hex characters), the same for the picture with or without its metadata;
    None when the bytes are not a picture Pillow can decode."""
    import imagehash  # here: it brings numpy, scipy and PyWavelets, which only this job needs

    image = _open(data)
    if image is None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.draft("L", _DRAFT)
            return str(imagehash.phash(image, hash_size=HASH_SIZE))
    except Exception:  # truncated or damaged picture data
        return None
    finally:
        image.close()


def hamming(a: str, b: str) -> int:
    """How many bits two hashes (hex) differ in."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lat, lon) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_M * math.asin(min(1.0, math.sqrt(h)))


def check_time(taken_at: datetime | None, reported_at: datetime, limits: Limits,
               show: Callable[[datetime], str] = datetime.isoformat) -> Finding | None:
    """A photo taken before the report was made cannot show the fix (a camera clock a little behind is let be);
    `show` writes a time as the supervisor reads it."""
    if taken_at is None or taken_at >= reported_at - timedelta(minutes=limits.time_slack_minutes):
        return None
    return Finding(BEFORE_REPORT, f"diambil {show(taken_at)}, laporan masuk {show(reported_at)}")


def check_place(point: tuple[float, float] | None, ticket_point: tuple[float, float] | None,
                limits: Limits) -> Finding | None:
    """A photo taken farther from the ticket's point than the limit is not of the place."""
    if point is None or ticket_point is None:
        return None
    far = distance_m(point, ticket_point)
    if far <= limits.max_distance_m:
        return None
    return Finding(OFF_SITE, f"diambil {_metres(far)} dari titik laporan (batas {_metres(limits.max_distance_m)})")


def check_same(phash: str | None, earlier: list[Earlier], limits: Limits) -> Finding | None:
    """The same picture as one seen before (the citizen's, another "done" photo); the closest one is named."""
    if phash is None:
        return None
    near = [(hamming(phash, e.phash), i, e) for i, e in enumerate(earlier)]
    found = min((n for n in near if n[0] <= limits.hash_distance), default=None)
    if found is None:
        return None
    bits, _, match = found
    return Finding(SAME_PHOTO, f"sama dengan {match.what}" + (f" (beda {bits} dari 64 bit)" if bits else ""))


def check_exif(exif: Exif, reported_at: datetime, ticket_point: tuple[float, float] | None, limits: Limits,
               show: Callable[[datetime], str] = datetime.isoformat) -> list[Finding]:
    """The time and place checks of one photo's EXIF."""
    return [f for f in (check_time(exif.taken_at, reported_at, limits, show),
                        check_place(exif.point, ticket_point, limits)) if f is not None]


def _metres(m: float) -> str:
    return f"{m / 1000:.1f} km".replace(".", ",") if m >= 1000 else f"{m:.0f} m"

