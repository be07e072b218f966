"""Optional street-level fallback: ask a Nominatim server (through geopy) where "jl. X" is.

Off unless `nlp.nominatim_url` is set. Used only when the text names a street and the offline
gazetteer found no kelurahan; Nominatim's point is then reverse-geocoded offline, and it is kept only
if it lies inside whatever coarser area the text did name. An unreachable server costs one timeout,
then is left alone for `RETRY_AFTER` seconds, so reports never wait on it message after message.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from nlp.geocode import Place, reverse_place

log = logging.getLogger(__name__)

RETRY_AFTER = 60.0  # seconds to leave an unreachable or failing server alone
CACHE_SIZE = 4096  # street queries remembered (answers and misses), per process
# DKI Jakarta's mainland bounding box (lat, lon corners): answers outside it are someone else's street.
VIEWBOX = ((-6.08, 106.68), (-6.38, 106.98))

_STREET = re.compile(
    r"\b(?:jl|jln|jalan)\b\.?\s*((?:[a-z0-9']+\.?\s*){1,5}?)"
    r"(?=\s*(?:[,;:!?()/\n]|\.\s|\bno\b|\bnomor\b|\brt\b|\brw\b|\bkel\b|\bkelurahan\b|\bkec\b|\bkecamatan\b|"
    r"\bdepan\b|\bdekat\b|\bsamping\b|\bsebelah\b|\bdi\b|\bdan\b|\bjakarta\b|\bjkt\b|$))")
_FILLERS = {"raya", "no"}
# Words after "jalan" that make it the noun "road" ("lampu jalan mati", "jalan rusak"), not a street name.
_NOT_A_NAME = {"mati", "rusak", "berlubang", "bolong", "macet", "licin", "ditutup", "tergenang", "banjir", "nya",
               "yang", "yg", "ini", "itu", "sini", "situ", "umum", "kaki", "tol", "masuk", "keluar", "utama",
               "kecil", "besar", "gelap", "sempit", "padat", "sepi", "menuju", "arah", "ke", "dari", "di"}


def street_of(text: str) -> str | None:
    """The street a text names ("jl. kemuning raya no 5" → "Jalan kemuning raya"), or None."""
    for match in _STREET.finditer(text.lower()):
        words = re.findall(r"[a-z0-9']+", match.group(1))
        name = " ".join(words)
        if words and words[0] not in _NOT_A_NAME and name not in _FILLERS and len(name) >= 3:
            return f"Jalan {name}"
    return None


class NominatimFallback:
    """geopy's Nominatim client against a configured server, with a cache and a pause after failures."""

    def __init__(self, url: str, user_agent: str = "crophub", timeout: float = 3.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"nominatim url must be http(s)://host[:port][/path], got {url!r}")
        domain = parts.netloc + parts.path.rstrip("/")
        self.client = Nominatim(domain=domain, scheme=parts.scheme, user_agent=user_agent, timeout=timeout)
        self.url = url
        self._cache: OrderedDict[str, tuple[float, float] | None] = OrderedDict()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def point(self, query: str) -> tuple[float, float] | None:
        """Nominatim's point for a street query inside Jakarta; None when unknown or the server fails."""
        with self._lock:
            if query in self._cache:
                self._cache.move_to_end(query)
                return self._cache[query]
            if time.monotonic() < self._paused_until:
                return None
        try:
            found = self.client.geocode(f"{query}, Jakarta", exactly_one=True, country_codes="id",
                                        viewbox=VIEWBOX, bounded=True)
        except GeopyError as exc:
            log.warning("nominatim: %s failed (%s: %s); not asking again for %.0f s",
                        self.url, type(exc).__name__, exc, RETRY_AFTER)
            with self._lock:
                self._paused_until = time.monotonic() + RETRY_AFTER
            return None
        point = (float(found.latitude), float(found.longitude)) if found is not None else None
        with self._lock:
            self._cache[query] = point
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return point

    def refine(self, text: str, offline: Place | None) -> Place | None:
        """The offline place, or a street-level place from Nominatim when the offline one has no kelurahan."""
        if offline is not None and offline.kelurahan is not None:
            return offline
        street = street_of(text)
        if street is None:
            return offline
        point = self.point(street)
        if point is None:
            return offline
        found = reverse_place(*point)
        if found.kelurahan is None:
            return offline
        if offline is not None and not _within(found, offline):
            return offline  # the street of that name elsewhere in Jakarta, not the one the citizen meant
        return Place(found.kelurahan, found.kecamatan, found.kab_kota, point[0], point[1], "nominatim",
                     street.lower().replace("jalan ", "jl. ", 1), found.distance_m)


def _within(found: Place, named: Place) -> bool:
    """True when `found` lies inside the kecamatan and kota that `named` gives (where it gives them)."""
    for level in ("kecamatan", "kab_kota"):
        area = getattr(named, level)
        if area is not None and (getattr(found, level) is None or getattr(found, level).kode != area.kode):
            return False
    return True
