"""Optional street-level fallback: ask a Nominatim server (through geopy) where "jl. X" is.

Off unless `nlp.nominatim_url` is set. Used only when the text names a street and the offline
gazetteer found no kelurahan; Nominatim's points are then reverse-geocoded offline and kept only if
they agree on one kecamatan inside whatever coarser area the text did name. Each request is tried
once (no retries); a failure, a malformed answer or an answer slower than `SLOW` seconds pauses the
fallback for `RETRY_AFTER` seconds, so reports never wait on it message after message. Answers and
misses are cached for the life of the process (streets do not move).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from functools import partial
from urllib.parse import SplitResult, urlsplit

from geopy.adapters import RequestsAdapter
from geopy.geocoders import Nominatim

from nlp.geocode import Place, reverse_place
from nlp.places import STREET_END, STREET_FILLERS

log = logging.getLogger(__name__)

RETRY_AFTER = 60.0  # seconds to leave an unreachable, failing or slow server alone
SLOW = 1.0  # seconds; a slower answer is used, but then the server is left alone like a failing one
CACHE_SIZE = 4096  # street queries remembered (answers and misses), per process
CANDIDATES = 5  # hits asked for; they must agree on one kecamatan (street names repeat across Jakarta)
# DKI Jakarta's mainland bounding box (lat, lon corners): answers outside it are someone else's street.
VIEWBOX = ((-6.08, 106.68), (-6.38, 106.98))

_TOKENS = re.compile(r"[a-z0-9']+|[.,;:!?()/\n]")
_STREET = {"jl", "jln", "jalan"}
# Words that cannot be (the start of) a street's name: after "jalan" they make it the noun "road"
# ("lampu jalan mati"); after a name they start the rest of the sentence ("jl. x sejak pagi").
_NOT_A_NAME = {"mati", "rusak", "berlubang", "bolong", "macet", "licin", "ditutup", "tergenang", "banjir", "nya",
               "yang", "yg", "ini", "itu", "sini", "situ", "umum", "kaki", "tol", "masuk", "keluar", "utama",
               "kecil", "besar", "gelap", "sempit", "padat", "sepi", "menuju", "amblas", "tidak", "tdk", "gak",
               "ga", "bisa", "sejak", "banyak", "ada", "sudah", "sdh", "udah", "belum", "blm", "tolong", "mohon",
               "parah", "lagi", "terus", "pagi", "siang", "sore", "malam", "sampah", "blok", "gg", "gang", "kav",
               "km", "sepanjang", "dan", "tapi", "karena", "krn", "jl", "jln", "jalan", "lampu", "pohon", "air"}
_MAX_NAME = 4  # words


def street_of(text: str) -> str | None:
    """The street a text names ("jl. kemuning raya no 5" → "Jalan kemuning raya"), or None."""
    tokens = _TOKENS.findall(text.lower())
    for i, token in enumerate(tokens):
        if token not in _STREET:
            continue
        words: list[str] = []
        for word in tokens[i + 1:]:
            if word == "." and (not words or words[-1] in STREET_FILLERS):
                continue  # "jl." and titles ("jl. h. domang")
            if not word[0].isalnum() or word in STREET_END or word in _NOT_A_NAME or len(words) == _MAX_NAME:
                break
            words.append(word)
        if any(w not in STREET_FILLERS for w in words):
            return "Jalan " + " ".join(words)
    return None


def split_url(url: str) -> SplitResult:
    """The parts of a Nominatim server URL; ValueError unless it is http(s)://host[:port][/path]."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected http(s)://host[:port][/path] for the nominatim url, got {url!r}")
    return parts


class NominatimFallback:
    """geopy's Nominatim client against a configured server, with a cache and a pause after failures."""

    def __init__(self, url: str, user_agent: str = "crophub", timeout: float = 3.0) -> None:
        parts = split_url(url)
        domain = parts.netloc + parts.path.rstrip("/")
        # geopy's requests adapter retries twice by default: three timeouts for one unreachable server.
        adapter = partial(RequestsAdapter, max_retries=0)
        self.client = Nominatim(domain=domain, scheme=parts.scheme, user_agent=user_agent, timeout=timeout,
                                adapter_factory=adapter)
        self.url = url
        self._cache: OrderedDict[str, list[tuple[float, float]]] = OrderedDict()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def points(self, query: str) -> list[tuple[float, float]] | None:
        """Nominatim's points for a street query inside Jakarta ([] when unknown); None when unavailable."""
        with self._lock:
            if query in self._cache:
                self._cache.move_to_end(query)
                return self._cache[query]
            if time.monotonic() < self._paused_until:
                return None
        started = time.monotonic()
        try:
            found = self.client.geocode(f"{query}, Jakarta", exactly_one=False, limit=CANDIDATES,
                                        country_codes="id", viewbox=VIEWBOX, bounded=True) or []
            points = [(float(f.latitude), float(f.longitude)) for f in found]
        except Exception as exc:  # noqa: BLE001 (optional service: any failure, malformed answers too, just pauses it)
            self._pause(f"failed ({type(exc).__name__}: {exc})")
            return None
        elapsed = time.monotonic() - started
        if elapsed > SLOW:
            self._pause(f"answered in {elapsed:.1f} s")
        with self._lock:
            self._cache[query] = points
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return points

    def _pause(self, why: str) -> None:
        log.warning("nominatim: %s %s; not asking again for %.0f s", self.url, why, RETRY_AFTER)
        with self._lock:
            self._paused_until = time.monotonic() + RETRY_AFTER

    def refine(self, text: str, offline: Place | None) -> Place | None:
        """The offline place, or a street-level place from Nominatim when the offline one has no kelurahan."""
        if offline is not None and offline.kelurahan is not None:
            return offline
        street = street_of(text)
        if street is None:
            return offline
        points = self.points(street)
        if not points:
            return offline
        places = [reverse_place(*point) for point in points]
        if offline is not None:
            # Only hits inside the area the text names: the same street name elsewhere is not meant.
            places = [p for p in places if _within(p, offline)]
        kecamatans = {p.kecamatan.kode if p.kecamatan else None for p in places}
        if not places or len(kecamatans) != 1 or None in kecamatans or places[0].kelurahan is None:
            return offline  # unknown, outside Jakarta, or a street name found in several kecamatan
        return replace(places[0], source="nominatim", place_text=street.lower().replace("jalan ", "jl. ", 1))


def _within(found: Place, named: Place) -> bool:
    """True when `found` lies inside the kecamatan and kota that `named` gives (where it gives them)."""
    for level in ("kecamatan", "kab_kota"):
        area = getattr(named, level)
        if area is not None and (getattr(found, level) is None or getattr(found, level).kode != area.kode):
            return False
    return True
