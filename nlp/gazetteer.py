"""The offline DKI Jakarta gazetteer: areas with official codes, centroids and polygons, and landmarks."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shapely import STRtree
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

DATA = Path(__file__).parent / "data"
LEVELS = ("kab_kota", "kecamatan", "kelurahan")


@dataclass(frozen=True)
class Area:
    """A kota/kabupaten, kecamatan or kelurahan with its official (Kepmendagri) code."""

    kode: str
    level: str
    nama: str
    kecamatan_kode: str | None
    kab_kota_kode: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Landmark:
    """A named point: a Transjakarta stop, station, hospital, market, office..."""

    name: str
    kind: str
    lat: float
    lon: float


class Gazetteer:
    """Areas by code, kelurahan polygons in a spatial index, and landmarks."""

    def __init__(self, data: Path = DATA) -> None:
        self.areas: dict[str, Area] = {}
        with open(data / "jakarta" / "jakarta_wilayah_2025.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                self.areas[row["kode"]] = Area(
                    kode=row["kode"], level=row["level"], nama=row["nama"],
                    kecamatan_kode=row["kode_kecamatan"] or None, kab_kota_kode=row["kode_kab_kota"],
                    lat=float(row["lat"]), lon=float(row["lng"]),
                )
        features = json.loads((data / "jakarta" / "jakarta_wilayah_2025.geojson").read_text(encoding="utf-8"))
        self.shapes: dict[str, BaseGeometry] = {
            f["properties"]["kode"]: shape(f["geometry"]) for f in features["features"]
        }
        self.kelurahan = [a for a in self.areas.values() if a.level == "kelurahan"]
        polygons = [self.shapes[a.kode] for a in self.kelurahan]
        self._tree = STRtree(polygons)
        self._polygons = polygons
        self.landmarks = _landmarks(data / "landmarks")

    def containing(self, lat: float, lon: float) -> Area | None:
        """The kelurahan whose polygon contains the point, if any."""
        point = Point(lon, lat)
        for index in self._tree.query(point, predicate="intersects"):
            return self.kelurahan[int(index)]
        return None

    def nearest(self, lat: float, lon: float) -> tuple[Area, float]:
        """The kelurahan nearest the point and its distance in metres (approximate, fine at this scale)."""
        point = Point(lon, lat)
        index = int(self._tree.nearest(point))
        degrees = self._polygons[index].distance(point)
        return self.kelurahan[index], degrees * 111_320.0

    def name_of(self, kelurahan: str | None, kecamatan: str | None = None, kab_kota: str | None = None) -> str:
        """Areas by code in words, as far as known: "Kel. Cikini, Kec. Menteng, Jakarta Pusat" ("" for none)."""
        found = [self.areas.get(code or "") for code in (kelurahan, kecamatan, kab_kota)]
        lowest = next((a for a in found if a is not None), None)
        if lowest is None:
            return ""
        kec, kota = self.parents(lowest)
        parts = [f"Kel. {lowest.nama}"] if lowest.level == "kelurahan" else []
        if kec is not None:
            parts.append(f"Kec. {kec.nama}")
        parts.append(short_name(kota))
        return ", ".join(parts)

    def parents(self, area: Area) -> tuple[Area | None, Area]:
        """An area's kecamatan (None for a kota) and kota/kabupaten."""
        kecamatan = self.areas.get(area.kecamatan_kode or "") if area.level == "kelurahan" else (
            area if area.level == "kecamatan" else None)
        return kecamatan, self.areas[area.kab_kota_kode]


def short_name(area: Area) -> str:
    """A kota's name as people say it: "Jakarta Selatan", "Kepulauan Seribu"; other areas as they are."""
    for prefix in ("Kota Administrasi ", "Kabupaten Administrasi "):
        if area.nama.startswith(prefix):
            return area.nama[len(prefix):]
    return area.nama


def _landmarks(folder: Path) -> list[Landmark]:
    found: list[Landmark] = []
    with open(folder / "transjakarta_stops.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            name = row["stop_name"].split(",")[0].strip()  # "Blok M, platform 1" → "Blok M"
            found.append(Landmark(name, "halte", float(row["stop_lat"]), float(row["stop_lon"])))
    with open(folder / "jakarta_poi.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["layer"] in ("halte", "stasiunKA", "rumahsakit", "pusatbelanja", "spbu", "puskesmas"):
                found.append(Landmark(row["name"].strip().rstrip("."), row["layer"], float(row["lat"]),
                                      float(row["lon"])))
    return found


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The packaged gazetteer, loaded once per process."""
    return Gazetteer()
