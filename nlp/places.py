"""Find place mentions in informal text: kelurahan, kecamatan, kota and landmarks, with their areas.

Names are indexed in every spelling citizens use ("kp melayu", "cip. muara", "kramat jati" and
"kramatjati", "jaktim") with spaces removed, and token n-grams of the text are looked up the same way,
so spacing and dots do not matter. Context words decide between readings: "kel."/"kec." choose the
level; a name inside a street name ("jl. kebon jeruk raya") is not an area mention. A name that is
also an ordinary word ("bangka", "gunung") counts only after "kel."/"kec." or written bare just before
an area that contains it, as addresses are written ("Bangka, Mampang Prapatan", "Karet Setiabudi").
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

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
# Single-word names that are also ordinary words: read as a place only after "kel."/"kec." or just before
# an area that contains them ("bangka, mampang prapatan").
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
# What may stand between a bare name and the area containing it: "Bangka, Mampang Prapatan",
# "Bangka (kec. Mampang Prapatan)", "Bangka/Jaksel".
PARENT_JOINERS = {",", "/", "("} | set(LEVEL_WORDS)
_TOKEN = re.compile(r"[a-z]+|[0-9]+|[,;:!?()\n/]")  # "no.1semper" → "no", "1", "semper"


@dataclass
class Mention:
    """A place named in the text, with every area (or landmark) it can mean."""

    text: str
    areas: list[Area] = field(default_factory=list)
    landmarks: list[Landmark] = field(default_factory=list)
    level_hint: str | None = None
    words: int = 1  # tokens the mention spans
    start: int = 0  # the token it begins at
    bare: bool = False  # a name that is also an ordinary word, with no "kel."/"kec." before it


def _key(words: list[str]) -> str:
    return "".join(words)


def _forms(name: str, splits: dict[str, list[list[str]]] | None = None) -> list[list[str]]:
    """Spellings of a gazetteer name as word lists, with the abbreviations citizens use and, from
    `splits`, a run-together name written apart ("kramatjati" as "kramat jati")."""
    forms: list[list[str]] = [[]]
    for word in re.findall(r"[a-z0-9]+", name.lower()):
        options = [[word], *([a] for a in ABBREVIATIONS.get(word, []))]
        if splits and word in splits:
            options += splits[word]
        forms = [f + o for f in forms for o in options][:64]
    return forms


def _splits(names: list[str]) -> dict[str, list[list[str]]]:
    """Every two-part split of a run-together name word ("kramatjati" → kramat jati, "palmeriam" → pal
    meriam, ...), parts of 3+ letters: citizens write such names apart."""
    words = {w for n in names for w in re.findall(r"[a-z]+", n.lower()) if len(w) >= 6}
    return {w: [[w[:cut], w[cut:]] for cut in range(3, len(w) - 2)] for w in words}


def _joinings(words: list[str]) -> list[list[str]]:
    """Every way of writing the words with or without the spaces between them ("kramat jati",
    "kramatjati"), so the matcher finds names however they are spaced."""
    out: list[list[str]] = [[words[0]]] if words else []
    for word in words[1:]:
        out = [o + [word] for o in out] + [o[:-1] + [o[-1] + word] for o in out]
    return out


class PlaceIndex:
    """spaCy PhraseMatchers over every spelling of every area and landmark name."""

    def __init__(self, gaz: Gazetteer) -> None:
        self.gaz = gaz
        self.vocab = Vocab()
        self.areas: dict[str, list[Area]] = {}
        self.landmarks: dict[str, list[Landmark]] = {}
        self.area_matcher = PhraseMatcher(self.vocab)
        self.landmark_matcher = PhraseMatcher(self.vocab)
        splits = _splits([a.nama for a in gaz.areas.values()])
        area_patterns: dict[str, list[list[str]]] = {}
        for area in gaz.areas.values():
            name = re.sub(r"^(kota|kabupaten) administrasi ", "", area.nama.lower())
            forms = _forms(name, splits) + [s.split() for s in KOTA_SHORT.get(area.kode, [])]
            for form in forms:
                key = _key(form)
                if area not in self.areas.setdefault(key, []):
                    self.areas[key].append(area)
                area_patterns.setdefault(key, []).extend(_joinings(form))
        landmark_patterns: dict[str, list[list[str]]] = {}
        for mark in gaz.landmarks:
            name = mark.name.lower()
            forms = _forms(name)
            if mark.kind == "halte" and not name.startswith("halte"):
                forms += [["halte", *f] for f in forms]
            if name.startswith("rumah sakit"):
                forms += [["rs", *f[2:]] for f in forms if f[:2] == ["rumah", "sakit"]]
            for form in forms:
                key = _key(form)
                if len(key) >= 6 and len(form) > 1:  # a one-word landmark name is too often an ordinary word
                    if mark not in self.landmarks.setdefault(key, []):
                        self.landmarks[key].append(mark)
                    landmark_patterns.setdefault(key, []).append(form)  # as spaced: joinings cost seconds
        self.words: set[str] = set()  # every word of every pattern; other words need not enter the vocab
        for patterns, matcher in ((area_patterns, self.area_matcher), (landmark_patterns, self.landmark_matcher)):
            for key, words in patterns.items():
                unique = {tuple(w) for w in words}
                self.words.update(w for u in unique for w in u)
                matcher.add(key, [Doc(self.vocab, words=list(w)) for w in unique])

    def find(self, text: str) -> list[Mention]:
        """Place mentions in `text`, longest match first, left to right."""
        tokens = _TOKEN.findall(text.lower())
        if not tokens:
            return []
        # Words in no name become one placeholder: a long-lived worker's vocab would otherwise keep
        # every phone number and typo it ever saw.
        doc = Doc(self.vocab, words=[t if t in self.words else "_" for t in tokens])
        strings = self.vocab.strings
        # start → [(end, key)], longest first; matches never contain punctuation tokens.
        area_at: dict[int, list[tuple[int, str]]] = {}
        landmark_at: dict[int, list[tuple[int, str]]] = {}
        for at, matcher in ((area_at, self.area_matcher), (landmark_at, self.landmark_matcher)):
            for match_id, start, end in matcher(doc):
                at.setdefault(start, []).append((end, strings[match_id]))
            for spans in at.values():
                spans.sort(reverse=True)
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
            hint = _level_before(tokens, i)
            found = None if token in LEVEL_WORDS or not token.isalnum() else self._match(
                tokens, i, hint, area_at.get(i, []), landmark_at.get(i, []))
            if found and street == 0:
                # The first words after "jl." name the street ("jl. kebon jeruk raya"), not the area;
                # an area after the street's own name ("jl. paus rawamangun") is a place again.
                found.areas = []
                found.landmarks = []
            if found and (found.areas or found.landmarks):
                mentions.append(found)
            if found:
                # A landmark's name may contain an area name ("halte cawang sutoyo"): read on inside it.
                step = 1 if found.landmarks and not found.areas else found.words
                street = None if street is None else street + step
                i += step
                continue
            street = None if street is None else street + 1
            i += 1
        return _bare_beside_parent(mentions, tokens)

    def _match(self, tokens: list[str], i: int, hint: str | None,
               areas: list[tuple[int, str]], landmarks: list[tuple[int, str]]) -> Mention | None:
        """The longest area name starting at token i; else the longest landmark name; else a bare name
        that is also an ordinary word (kept later only beside an area containing it)."""
        bare: Mention | None = None
        for end, key in areas:
            if end - i == 1 and hint is None and (key in COMMON_WORDS or len(key) < 4):
                bare = Mention(tokens[i], list(self.areas[key]), [], None, 1, i, bare=True)
                continue
            return Mention(" ".join(tokens[i:end]), list(self.areas[key]), [], hint, end - i, i)
        for end, key in landmarks:
            if end - i > 1:
                return Mention(" ".join(tokens[i:end]), [], list(self.landmarks[key]), hint, end - i, i)
        return bare


def _level_before(tokens: list[str], i: int) -> str | None:
    """The level a word before token i names ("kel. x", "kelurahan: x"), if any."""
    j = i - 1
    while j >= 0 and tokens[j] == ":":  # a form's answer: "kelurahan: bangka"
        j -= 1
    return LEVEL_WORDS.get(tokens[j]) if j >= 0 else None


def _contains(parent: Area, area: Area) -> bool:
    """Whether `area` lies in `parent` (a kelurahan in its kecamatan; a kecamatan or kelurahan in its kota)."""
    if parent.level == "kecamatan":
        return area.level == "kelurahan" and area.kecamatan_kode == parent.kode
    return parent.level == "kab_kota" and area.level != "kab_kota" and area.kab_kota_kode == parent.kode


def _bare_beside_parent(mentions: list[Mention], tokens: list[str]) -> list[Mention]:
    """Mentions with each bare name kept only when the next mention, right after it, is an area that
    contains it, and then only as the areas it contains: an ordinary word is a place only when the
    text confirms it ("bangka, mampang prapatan"; not "rumah baru" alone)."""
    kept: list[Mention] = []
    for n, mention in enumerate(mentions):
        if not mention.bare:
            kept.append(mention)
            continue
        after = mentions[n + 1] if n + 1 < len(mentions) else None
        if after is None or after.bare or any(
                t not in PARENT_JOINERS for t in tokens[mention.start + mention.words:after.start]):
            continue
        hinted = [a for a in after.areas if a.level == after.level_hint]
        parents = hinted or after.areas
        if mention.start and tokens[mention.start - 1].isalpha():
            # A kota holds some fifty kelurahan: after an ordinary word ("rumah baru, jakarta timur") a bare
            # name before it is too often a word; it must open a part of the address (", bangka, jaksel").
            parents = [p for p in parents if p.level == "kecamatan"]
        mention.areas = [a for a in mention.areas if any(_contains(p, a) for p in parents)]
        if mention.areas:
            kept.append(mention)
    return kept


@lru_cache(maxsize=1)
def index() -> PlaceIndex:
    """The place index over the packaged gazetteer, built once per process."""
    return PlaceIndex(gazetteer())


# "Jl. Kapten Tendean No. 5", "jln dermaga raya", "Gg. Kelinci III": a street as the citizen wrote it,
# up to the first comma, number sign or word that ends a street name.
_STREET = re.compile(r"\b(jl|jln|jalan|gg|gang)\b\.?\s*(?=([^\n,;:()/]{2,60}))", re.IGNORECASE)


def _names_a_street(found: re.Match[str]) -> bool:
    # "jalan" is also the road itself ("jalan rusak parah"): a street only before a name written with a capital,
    # or "raya"; "jl", "jln", "gg" always abbreviate a street.
    if found.group(1).lower() not in ("jalan", "gang"):
        return True
    following = found.group(2).split()[0] if found.group(2).split() else ""
    return following[:1].isupper() or following.lower() == "raya"


def street_of(text: str) -> str | None:
    """The street a text names, as written ("Jl. Kapten Tendean"), without what follows it; None if none."""
    found = next((m for m in _STREET.finditer(text or "") if _names_a_street(m)), None)
    if not found:
        return None
    kept: list[str] = []
    for word in found.group(2).split():
        bare = word.strip(".").lower()
        if bare in STREET_END or bare in LEVEL_WORDS or bare.startswith(("rt", "rw", "no")) and len(bare) <= 3:
            break
        kept.append(word)
    if not kept:
        return None
    head = found.group(1)
    head = head[0].upper() + head[1:].lower()
    return f"{head}{'.' if found.group(0)[len(head):].startswith('.') else ''} {' '.join(kept)}".strip()[:120]
