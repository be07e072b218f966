"""Text features for the classifier: the normaliser, a light stemmer, and the taxonomy's phrase rules."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

_URL = re.compile(r"https?://\S+|www\.\S+")
# Contact details and markup say who wrote and how, never what about: a phone number or an email
# pulled "banjir 50 cm, hubungi 0812-..." towards spam (not_report), so they are read as nothing.
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\w)(?:\+?62[\s.-]?|0)8\d(?:[\s.-]?\d){6,11}(?!\w)")
_TAG = re.compile(r"</?[a-z][^<>]{0,100}>", re.IGNORECASE)
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(\w)\1{2,}")  # "bangettt" → "banget"
_HASHTAG = re.compile(r"#(\w+)")
_WORD = re.compile(r"[a-z]+")
_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W_]+|[^\w\s]")  # runs of letters/digits, or one punctuation mark
_PREFIXES = ("meng", "meny", "mem", "men", "me", "peng", "peny", "pem", "pen", "pe", "ber", "ter", "di", "ke", "se")
_SUFFIXES = ("nya", "lah", "kah", "kan", "an", "i")


@lru_cache(maxsize=1 << 16)  # words repeat across messages; stemming each again was 15% of `analyse`
def stem(word: str) -> str:
    """A light Indonesian stemmer: one suffix, then one prefix, kept only if 4+ letters remain."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 4:
            return word[len(prefix):]
    return word


def split_compound(word: str, vocabulary: frozenset[str]) -> list[str]:
    """Split a run-together hashtag ("drainaseburuk") into known words, or keep it whole."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 20), end):
            piece = word[start:end]
            if best[start] is not None and (piece in vocabulary and len(piece) >= 3):
                candidate = best[start] + [piece]  # type: ignore[operator]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[-1] or [word]


def normalise(text: str, vocabulary: frozenset[str] = frozenset()) -> str:
    """Lower-case; drop URLs, emails, phone numbers, markup and @handles; squash repeated letters and runs of
    spaces and line breaks;
    split hashtags into words; and append word stems, so "banjirnya", "kebanjiran" and "#banjir" share
    features with "banjir"."""
    text = _TAG.sub(" ", _PHONE.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", text.lower()))))
    text = _MENTION.sub(" ", text)
    # An app caption's line breaks and doubled spaces say how the citizen typed, not what about.
    text = _SPACE.sub(" ", text).strip()
    text = _REPEAT.sub(r"\1", text)
    text = _HASHTAG.sub(lambda m: " ".join(split_compound(m.group(1), vocabulary)), text)
    stems = [s for w in _WORD.findall(text) if (s := stem(w)) != w]
    return f"{text} | {' '.join(stems)}" if stems else text


def vocabulary_of(texts: Iterable[str]) -> frozenset[str]:
    """Words (3+ letters) of the training texts and their stems: what hashtags are split into."""
    words = {w for t in texts for w in _WORD.findall(t.lower()) if len(w) >= 3}
    return frozenset(words | {stem(w) for w in words})


def tokens(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens, as the phrase rules compare them."""
    return _TOKEN.findall(text.lower())


class PhraseRules:
    """The taxonomy's keyword phrases, matched as whole token sequences; the earliest category wins."""

    def __init__(self, keywords: Mapping[str, Sequence[str]]) -> None:
        # `keywords` is in the taxonomy's order, which is the precedence among categories.
        self.rank = {name: i for i, name in enumerate(keywords)}
        self.phrases: dict[tuple[str, ...], str] = {}
        for name, phrases in keywords.items():
            for phrase in phrases:
                key = tuple(tokens(phrase))
                if key and (key not in self.phrases or self.rank[name] < self.rank[self.phrases[key]]):
                    self.phrases[key] = name
        self.longest = max((len(k) for k in self.phrases), default=0)
        self.firsts = {k[0] for k in self.phrases}

    def match(self, text: str) -> str | None:
        """The category of the highest-precedence phrase found in `text`, or None."""
        found: str | None = None
        words = tokens(text)
        for i, word in enumerate(words):
            if word not in self.firsts:  # most tokens start no phrase: skip the slicing
                continue
            for n in range(1, min(self.longest, len(words) - i) + 1):
                name = self.phrases.get(tuple(words[i:i + n]))
                if name is not None and (found is None or self.rank[name] < self.rank[found]):
                    found = name
        return found
