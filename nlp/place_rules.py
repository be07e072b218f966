"""Which place a report is at, when it may carry several: a shared point, the place its text names, and the
area a vague location (a tweet's tagged place) allows. Plain values in, a Place out: the router passes a
message's parts and the city's settings."""
from __future__ import annotations

from dataclasses import replace

from nlp.geocode import NEAR_M, Place, reverse_place, text_place
from nlp.nominatim import NominatimFallback

# An area's centre (a tweet's tagged place) is not a point: what the text names comes first, and the
# area alone gives only what its size allows: its kecamatan when it is this small, else its kota.
# (An area this small, a tweet's point of interest, counts as a point.)
POINT_M = 500
KECAMATAN_M = 2_000
KOTA_M = 10_000


def precise(area: bool, accuracy_m: float | None) -> bool:
    """True when a location is a point: not an area's centre, or an area small enough to count as one."""
    return not area or (accuracy_m or 0) <= POINT_M


def place_of(text: str, lat: float | None = None, lon: float | None = None, accuracy_m: float | None = None,
             area: bool = False, title: str | None = None, near_m: float = NEAR_M,
             fallback: NominatimFallback | None = None) -> Place | None:
    """Where a report is: its shared point (lat, lon) if precise, else the place its text names (a street via
    `fallback`, Nominatim, when set), else the areas a vague location allows. `near_m`: how far outside the
    city's polygons a point still counts as in it."""
    if lat is not None and lon is not None and precise(area, accuracy_m):
        return reverse_place(lat, lon, near_m=near_m)
    named = text_place(text) if text else None
    if fallback and text:
        named = fallback.refine(text, named)
    if named is None and lat is not None and lon is not None:
        return vague(lat, lon, accuracy_m or 0, title, near_m)
    return named


def vague(lat: float, lon: float, accuracy_m: float, title: str | None, near_m: float = NEAR_M) -> Place | None:
    """The kecamatan or kota around the centre of a vague location, when it is small enough to tell."""
    at = reverse_place(lat, lon, near_m=near_m)
    if accuracy_m > KOTA_M or at.kab_kota is None:
        return None
    return replace(at, kelurahan=None, kecamatan=at.kecamatan if accuracy_m <= KECAMATAN_M else None,
                   source="place", place_text=title, distance_m=accuracy_m)


def located(place: Place | None) -> bool:
    """True when officers can find the place: a point, or at least a kelurahan or kecamatan."""
    return place is not None and (place.source == "point" or place.kelurahan is not None or place.kecamatan is not None)
