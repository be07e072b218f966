"""The city's areas as the router and the web pages name and draw them (the gazetteer behind them is nlp's): names,
the kota → kecamatan tree, and an area's extent."""
from __future__ import annotations

from functools import lru_cache

from shapely.ops import unary_union

from nlp.gazetteer import gazetteer, short_name

Extent = tuple[float, float, float, float]  # west, south, east, north


def name_of(*codes: str | None) -> str:
    """The most precise named area among `codes` (kelurahan, kecamatan, kota) in words; "" when none is known."""
    return gazetteer().name_of(*codes) or ""


@lru_cache(maxsize=1)
def levels() -> dict[str, str]:
    """Each kota's and kecamatan's code → its level ("kab_kota" or "kecamatan")."""
    return {a.kode: a.level for a in gazetteer().areas.values() if a.level in ("kab_kota", "kecamatan")}


@lru_cache(maxsize=1)
def kota_tree() -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Every kota (code, short name) with its kecamatan (code, name), each by name."""
    gaz = gazetteer()
    found = []
    for kota in sorted((a for a in gaz.areas.values() if a.level == "kab_kota"), key=short_name):
        kecamatan = sorted((a for a in gaz.areas.values() if a.level == "kecamatan" and a.kab_kota_kode == kota.kode),
                           key=lambda a: a.nama)
        found.append((kota.kode, short_name(kota), [(a.kode, a.nama) for a in kecamatan]))
    return found


@lru_cache(maxsize=64)
def extent(code: str) -> Extent | None:
    """An area's bounding box, rounded to ~10 m; None for a code the gazetteer does not know."""
    gaz = gazetteer()
    shape = gaz.shapes.get(code)
    if shape is None:
        parts = [gaz.shapes[a.kode] for a in gaz.kelurahan if code in (a.kecamatan_kode, a.kab_kota_kode)]
        if not parts:
            return None
        shape = unary_union(parts)
    west, south, east, north = shape.bounds
    return round(west, 4), round(south, 4), round(east, 4), round(north, 4)
