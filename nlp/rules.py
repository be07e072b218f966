"""The keyword-rule layer: unambiguous phrases decide a category with high precision."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT_TAXONOMY = Path(__file__).parent / "data" / "categories.yaml"
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True)
class Category:
    """One category of the taxonomy with its reply labels and rule phrases."""

    name: str
    label_id: str
    label_en: str
    keywords: tuple[str, ...]

    def label(self, language: str) -> str:
        """The category's name for a reply in `language`."""
        return self.label_en if language == "en" else self.label_id


@dataclass(frozen=True)
class RuleMatch:
    """A category decided by a rule, and the phrase that decided it."""

    category: str
    phrase: str


class Taxonomy:
    """Categories kept as data, with a compiled matcher over their phrases."""

    def __init__(self, categories: list[Category], chit_chat: set[str]) -> None:
        self.categories = {c.name: c for c in categories}
        self.chit_chat = chit_chat
        # One alternation, longest phrases first so "banjir rob" wins over "banjir"; the order of
        # categories in the file is the precedence when phrases of several match.
        phrases = sorted({(k.lower(), c.name) for c in categories for k in c.keywords}, key=lambda p: -len(p[0]))
        self._rank = {c.name: i for i, c in enumerate(categories)}
        self._owner = {p: name for p, name in phrases}
        alternation = "|".join(re.escape(p) for p, _ in phrases) or r"(?!x)x"
        self._pattern = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])")

    @classmethod
    def load(cls, path: Path | None = None) -> "Taxonomy":
        """Read a taxonomy file (the packaged default when None)."""
        data = yaml.safe_load(Path(path or DEFAULT_TAXONOMY).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("categories"), list) or not data["categories"]:
            raise ValueError("expected a mapping with a non-empty `categories` list")
        cats = [
            Category(c["name"], c["label"]["id"], c["label"]["en"], tuple(c.get("keywords") or ()))
            for c in data["categories"]
        ]
        return cls(cats, {w.lower() for w in data.get("chit_chat", [])})

    def match(self, text: str) -> RuleMatch | None:
        """The highest-precedence category whose phrase occurs in `text`, if any."""
        found = {m.group(0) for m in self._pattern.finditer(_normalise(text))}
        if not found:
            return None
        phrase = min(found, key=lambda p: (self._rank[self._owner[p]], -len(p)))
        return RuleMatch(self._owner[phrase], phrase)

    def is_chit_chat(self, text: str) -> bool:
        """True when the text is only greetings/thanks (and at least one word)."""
        words = _WORD.findall(_normalise(text))
        return bool(words) and all(w in self.chit_chat for w in words)

    def label(self, name: str | None, language: str) -> str:
        """A category's reply label; the raw name for categories not in the taxonomy."""
        cat = self.categories.get(name or "")
        return cat.label(language) if cat else (name or "?")


def _normalise(text: str) -> str:
    # "3in1", "3-in-1" and "3 in 1" are all written; fold case and runs of spaces only.
    return re.sub(r"\s+", " ", text.lower())


@lru_cache(maxsize=4)
def taxonomy(path: str | None = None) -> Taxonomy:
    """The taxonomy at `path` (default packaged), loaded once per process."""
    return Taxonomy.load(Path(path) if path else None)
