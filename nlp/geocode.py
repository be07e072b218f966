"""Offline geocoding over the Jakarta gazetteer: text → area and point; point → containing kelurahan."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geopy.geocoders.base import Geocoder
from geopy.location import Location

from nlp.gazetteer import Area, Gazetteer, gazetteer
from nlp.places import Mention, PlaceIndex, index

NEAR_M = 150.0  # the polygons are simplified: a point this close outside one still belongs to it
FAR_M = 3000.0  # beyond this from every kelurahan, a point is outside Jakarta


@dataclass(frozen=True)
class Place:
    """Where a report is: the areas (as far as known), a point, and how it was found."""

    kelurahan: Area | None
    kecamatan: Area | None
    kab_kota: Area | None
    lat: float | None
    lon: float | None
    source: str  # point | point_near | outside | text:kelurahan | text:kecamatan | text:kab_kota | landmark | nominatim
    place_text: str | None = None
    distance_m: float | None = None

    def fields(self) -> dict[str, Any]:
        """The flat, JSON-safe fields `crophub analyse` and tickets use."""
        return {
            "place_text": self.place_text,
            "kelurahan_kode": self.kelurahan.kode if self.kelurahan else None,
            "kelurahan": self.kelurahan.nama if self.kelurahan else None,
            "kecamatan_kode": self.kecamatan.kode if self.kecamatan else None,
            "kecamatan": self.kecamatan.nama if self.kecamatan else None,
            "kab_kota_kode": self.kab_kota.kode if self.kab_kota else None,
            "kab_kota": self.kab_kota.nama if self.kab_kota else None,
            "lat": self.lat, "lon": self.lon, "geocode_source": self.source,
        }


def _at(gaz: Gazetteer, area: Area | None, source: str, text: str | None, lat: float | None = None,
        lon: float | None = None, distance: float | None = None) -> Place:
    if area is None:
        return Place(None, None, None, lat, lon, source, text, distance)
    kecamatan, kota = gaz.parents(area)
    return Place(area if area.level == "kelurahan" else None, kecamatan, kota,
                 area.lat if lat is None else lat, area.lon if lon is None else lon, source, text, distance)


def reverse_place(lat: float, lon: float, gaz: Gazetteer | None = None, near_m: float = NEAR_M) -> Place:
    """The kelurahan containing a point; the nearest one within `near_m`; else outside Jakarta."""
    gaz = gaz or gazetteer()
    area = gaz.containing(lat, lon)
    if area is not None:
        return _at(gaz, area, "point", None, lat, lon, 0.0)
    nearest, distance = gaz.nearest(lat, lon)
    if distance <= near_m:
        return _at(gaz, nearest, "point_near", None, lat, lon, distance)
    return Place(None, None, None, lat, lon, "outside", None, distance)


def outside_city(lat: float, lon: float, margin_m: float, gaz: Gazetteer | None = None) -> bool:
    """True when a point lies farther than `margin_m` from every kelurahan of the city (or is not a
    coordinate at all)."""
    import math

    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return True
    gaz = gaz or gazetteer()
    if gaz.containing(lat, lon) is not None:
        return False
    return gaz.nearest(lat, lon)[1] > margin_m


def text_place(text: str, places: PlaceIndex | None = None) -> Place | None:
    """The most specific area the text names consistently, or a landmark it names; None if neither."""
    places = places or index()
    mentions = places.find(text)
    if not mentions:
        return None
    return _resolve(places.gaz, mentions)


def _readings(mention: Mention) -> list[Area]:
    if mention.level_hint:
        hinted = [a for a in mention.areas if a.level == mention.level_hint]
        if hinted:
            return hinted
    levels = {a.level for a in mention.areas}
    if {"kecamatan", "kelurahan"} <= levels:
        # "Duren Sawit", "Tebet"...: without "kel." the kecamatan is the safe reading (it contains the other).
        return [a for a in mention.areas if a.level == "kecamatan"]
    return mention.areas


def _resolve(gaz: Gazetteer, mentions: list[Mention]) -> Place | None:
    kotas = [(m, a) for m in mentions for a in _readings(m) if a.level == "kab_kota"]
    kecs = [(m, a) for m in mentions for a in _readings(m) if a.level == "kecamatan"]
    kels = [(m, a) for m in mentions for a in _readings(m) if a.level == "kelurahan"]
    kota_codes = {a.kode for _, a in kotas}
    kec_codes = {a.kode for _, a in kecs}

    def fits(area: Area) -> bool:
        return (not kota_codes or area.kab_kota_kode in kota_codes) and (
            not kec_codes or (area.kecamatan_kode or area.kode) in kec_codes or area.level == "kecamatan")

    for mention, area in kels:
        if fits(area):
            return _at(gaz, area, "text:kelurahan", mention.text)
    for mention, area in kecs:
        if not kota_codes or area.kab_kota_kode in kota_codes:
            # A landmark inside this kecamatan may pin the kelurahan down.
            found = _landmark(gaz, mentions, lambda a, kode=area.kode: a.kecamatan_kode == kode)
            return found or _at(gaz, area, "text:kecamatan", mention.text)
    found = _landmark(gaz, mentions, lambda a: not kota_codes or a.kab_kota_kode in kota_codes)
    if found:
        return found
    if kotas:
        mention, area = kotas[0]
        return _at(gaz, area, "text:kab_kota", mention.text)
    return None


def _landmark(gaz: Gazetteer, mentions: list[Mention], allowed: Any) -> Place | None:
    for mention in mentions:
        if not mention.landmarks:
            continue
        areas = {gaz.containing(m.lat, m.lon) for m in mention.landmarks}
        areas.discard(None)
        if len(areas) == 1:  # every landmark of that name lies in one kelurahan
            area = areas.pop()
            if area is not None and allowed(area):
                mark = mention.landmarks[0]
                return _at(gaz, area, "landmark", mention.text, mark.lat, mark.lon)
    return None


class JakartaGeocoder(Geocoder):
    """A geopy geocoder over the offline gazetteer; `raw` carries the area codes and names."""

    def __init__(self) -> None:
        super().__init__()
        self.gaz = gazetteer()
        self.places = index()

    def geocode(self, query: str, exactly_one: bool = True, **_kwargs: Any) -> Location | list[Location] | None:
        """Text → Location (a point and the areas the text names), or None."""
        place = text_place(query, self.places)
        if place is None or place.lat is None:
            return None
        location = _location(place)
        return location if exactly_one else [location]

    def reverse(self, query: Any, exactly_one: bool = True, **_kwargs: Any) -> Location | list[Location] | None:
        """(lat, lon) → Location of the containing kelurahan; None outside Jakarta."""
        lat, lon = _point(query)
        place = reverse_place(lat, lon, self.gaz)
        if place.kelurahan is None:
            return None
        location = _location(place)
        return location if exactly_one else [location]


def _point(query: Any) -> tuple[float, float]:
    if isinstance(query, str):
        lat, lon = (float(part) for part in query.split(","))
        return lat, lon
    if hasattr(query, "latitude"):
        return float(query.latitude), float(query.longitude)
    lat, lon = query
    return float(lat), float(lon)


def _location(place: Place) -> Location:
    names = [a.nama for a in (place.kelurahan, place.kecamatan, place.kab_kota) if a is not None]
    return Location(", ".join(names), (place.lat, place.lon), place.fields())
