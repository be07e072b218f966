"""Find place mentions in informal text: kelurahan, kecamatan, kota and landmarks, with their areas.

Names are indexed in every spelling citizens use ("kp melayu", "cip. muara", "kramat jati" and
"kramatjati", "jaktim") with spaces removed, and token n-grams of the text are looked up the same way,
so spacing and dots do not matter. Context words decide between readings: "kel."/"kec." choose the
level; a name inside a street name ("jl. kebon jeruk raya") is not an area mention.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from nlp.gazetteer import Area, Gazetteer, Landmark, gazetteer

# Word-level abbreviations seen in reports → the gazetteer's word.
ABBREVIATIONS = {
    "kampung": ["kp", "kamp", "kpg"], "tanjung": ["tj", "tg", "tanjong"], "pondok": ["pd", "pdk"],
    "kebon": ["kb", "kbn"], "cipinang": ["cip", "cpn"], "utara": ["utr", "ut"], "selatan": ["sel", "slt", "sltn"],
    "barat": ["brt", "bar"], "timur": ["tim", "tmr"], "pulau": ["p", "pl"], "kelapa": ["klp"],
    "gunung": ["gn", "gng"], "tengah": ["tgh"], "pasar": ["ps", "psr"], "rawa": ["rw"], "jatinegara": ["jatng"],
    "kepulauan": ["kep"], "jakarta": ["jkt"], "muara": ["ma"], "bambu": ["bb"], "cempaka": ["cemp", "cmp"],
}
KOTA_SHORT = {
    "31.71": ["jakpus", "jakarta pusat", "jkt pusat", "jakartapusat"],
    "31.72": ["jakut", "jakarta utara", "jkt utara"],
    "31.73": ["jakbar", "jakarta barat", "jkt barat"],
    "31.74": ["jaksel", "jakarta selatan", "jkt selatan"],
    "31.75": ["jaktim", "jakarta timur", "jkt timur"],
    "31.01": ["kepulauan seribu", "pulau seribu", "kep seribu"],
}
# Single-word names that are also ordinary words: only read as a place after "kel."/"kec.".
COMMON_WORDS = {
    "tengah", "baru", "jati", "gunung", "pulo", "dukuh", "gedong", "rambutan", "karet", "kenari", "kartini",
    "bangka", "setu", "selong", "tangki", "guntur", "kramat", "gelora", "kamal", "galur", "bungur",
    "susukan", "makasar", "ceger", "serdang", "bintaro", "kapuk", "koja", "angke", "pekayon",
}
LEVEL_WORDS = {
    "kel": "kelurahan", "kelurahan": "kelurahan", "kelurahaan": "kelurahan", "desa": "kelurahan",
    "kec": "kecamatan", "kecamatan": "kecamatan", "kecamatn": "kecamatan",
    "kota": "kab_kota", "kab": "kab_kota", "kabupaten": "kab_kota", "wilayah": "kab_kota",
}
STREET_WORDS = {"jl", "jln", "jalan", "gg", "gang", "jl.", "komplek", "komp", "perumahan", "perum", "apartemen"}
# Titles and fillers inside street names ("jl. raya", "jl. h. domang", "jl. jend. sudirman").
STREET_FILLERS = {"raya", "h", "haji", "hj", "kh", "dr", "ir", "jend", "jenderal", "letjen", "mayjen", "brigjen",
                  "kol", "kolonel", "kapt", "prof", "mh", "lkr", "lingkar", "ry"}
# Words that end a street name: what follows them may be an area again.
STREET_END = {"di", "dekat", "depan", "kel", "kelurahan", "kec", "kecamatan", "rt", "rw", "no", "arah", "ke", "dari",
              "samping", "belakang", "sebelah", "seberang", "sekitar", "wilayah", "kota", "daerah", "kawasan"}
_TOKEN = re.compile(r"[a-z]+|[0-9]+|[,;:!?()\n/]")  # "no.1semper" → "no", "1", "semper"
_MAX_WORDS = 5


@dataclass
class Mention:
    """A place named in the text, with every area (or landmark) it can mean."""

    text: str
    areas: list[Area] = field(default_factory=list)
    landmarks: list[Landmark] = field(default_factory=list)
    level_hint: str | None = None


def _key(words: list[str]) -> str:
    return "".join(words)


def _variants(name: str) -> set[str]:
    """Spellings of a gazetteer name as space-free keys: abbreviations, with and without spaces."""
    words = re.findall(r"[a-z0-9]+", name.lower())
    forms: list[list[str]] = [[]]
    for word in words:
        options = [word, *ABBREVIATIONS.get(word, [])]
        forms = [f + [o] for f in forms for o in options][:64]
    return {_key(f) for f in forms}


class PlaceIndex:
    """Every spelling of every area and landmark name, keyed without spaces."""

    def __init__(self, gaz: Gazetteer) -> None:
        self.gaz = gaz
        self.areas: dict[str, list[Area]] = {}
        self.landmarks: dict[str, list[Landmark]] = {}
        for area in gaz.areas.values():
            name = re.sub(r"^(kota|kabupaten) administrasi ", "", area.nama.lower())
            keys = _variants(name) | ({_key(s.split()) for s in KOTA_SHORT.get(area.kode, [])})
            for key in keys:
                self.areas.setdefault(key, []).append(area)
        for mark in gaz.landmarks:
            name = mark.name.lower()
            keys = _variants(name)
            if mark.kind == "halte" and not name.startswith("halte"):
                keys |= {"halte" + k for k in keys}
            if name.startswith("rumah sakit"):
                keys |= {"rs" + k.removeprefix("rumahsakit") for k in keys}
            for key in keys:
                if len(key) >= 6:
                    self.landmarks.setdefault(key, []).append(mark)

    def find(self, text: str) -> list[Mention]:
        """Place mentions in `text`, longest match first, left to right."""
        tokens = _TOKEN.findall(text.lower())
        mentions: list[Mention] = []
        street: int | None = None  # words of a street name read so far, None outside one
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token in STREET_WORDS:
                street, i = 0, i + 1
                continue
            if not token.isalnum() or token in STREET_END:
                street = None
            if street is not None and (token in STREET_FILLERS or token.isdigit()):
                i += 1
                continue
            hint = LEVEL_WORDS.get(tokens[i - 1]) if i else None
            found = None if token in LEVEL_WORDS or not token.isalnum() else self._match(tokens, i, hint)
            if found and street == 0 and found.areas:
                # The first words after "jl." name the street ("jl. kebon jeruk raya"), not the area;
                # an area after the street's own name ("jl. paus rawamangun") is a place again.
                found.areas = []
                found.landmarks = []
            if found and (found.areas or found.landmarks):
                mentions.append(found)
            if found:
                # A landmark's name may contain an area name ("halte cawang sutoyo"): read on inside it.
                step = 1 if found.landmarks and not found.areas else len(found.text.split())
                street = None if street is None else street + step
                i += step
                continue
            street = None if street is None else street + 1
            i += 1
        return mentions

    def _match(self, tokens: list[str], i: int, hint: str | None) -> Mention | None:
        """The longest area name starting at token i; else the longest landmark name."""
        spans = [tokens[i:i + n] for n in range(min(_MAX_WORDS, len(tokens) - i), 0, -1)]
        spans = [words for words in spans if all(w.isalnum() for w in words)]
        for words in spans:
            key = _key(words)
            if len(words) == 1 and hint is None and (key in COMMON_WORDS or len(key) < 4):
                continue
            if key in self.areas:
                return Mention(" ".join(words), list(self.areas[key]), [], hint)
        for words in spans:
            if len(words) > 1 and _key(words) in self.landmarks:
                return Mention(" ".join(words), [], list(self.landmarks[_key(words)]), hint)
        return None


@lru_cache(maxsize=1)
def index() -> PlaceIndex:
    """The place index over the packaged gazetteer, built once per process."""
    return PlaceIndex(gazetteer())
