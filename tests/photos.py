"""Photos the tests make themselves: real JPEGs (Pillow) with the EXIF a phone writes, time and GPS position
included, each picture its own (a seed draws it)."""
from __future__ import annotations

import io
import random

from PIL import ExifTags, Image, ImageDraw


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A picture of random blocks and lines (different seeds: different pictures)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(40, size[0] // 2), rng.randrange(40, size[1] // 2)
        draw.rectangle((x, y, x + w, y + h), fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(6):
        draw.line([(rng.randrange(size[0]), rng.randrange(size[1])) for _ in range(2)],
                  fill=tuple(rng.randrange(256) for _ in range(3)), width=rng.randrange(3, 20))
    return image


def jpeg(seed: int = 1, *, gps: tuple[float, float] | None = None, taken: str | None = None,
         offset: str | None = None, image: Image.Image | None = None, quality: int = 90) -> bytes:
    """A JPEG of `picture(seed)` (or `image`), with EXIF: `taken` as "YYYY:MM:DD HH:MM:SS" (and its `offset`,
    "+07:00"), `gps` as (lat, lon); the camera's make always, as a phone writes it."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "KameraHP"
    if taken:
        sub = exif.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = taken
        if offset:
            sub[ExifTags.Base.OffsetTimeOriginal] = offset
    if gps:
        lat, lon = gps
        found = exif.get_ifd(ExifTags.IFD.GPSInfo)
        found[ExifTags.GPS.GPSLatitudeRef] = "S" if lat < 0 else "N"
        found[ExifTags.GPS.GPSLatitude] = _dms(lat)
        found[ExifTags.GPS.GPSLongitudeRef] = "W" if lon < 0 else "E"
        found[ExifTags.GPS.GPSLongitude] = _dms(lon)
    out = io.BytesIO()
    (image or picture(seed)).save(out, "JPEG", exif=exif, quality=quality)
    return out.getvalue()


def has_exif(data: bytes) -> bool:
    """Whether a photo still carries EXIF (any of it)."""
    with Image.open(io.BytesIO(data)) as image:
        return bool(image.getexif()) or b"Exif\x00\x00" in data
