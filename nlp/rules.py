"""The category taxonomy, kept as data: names, reply labels, rule phrases, and small-talk words."""
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


class Taxonomy:
    """Categories kept as data: reply labels, rule phrases (matched by nlp.classify), small-talk words."""

    def __init__(self, categories: list[Category], chit_chat: set[str]) -> None:
        self.categories = {c.name: c for c in categories}
        self.chit_chat = chit_chat

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

    def is_chit_chat(self, text: str) -> bool:
        """True when the text is only greetings/thanks (and at least one word)."""
        words = _WORD.findall(text.lower())
        return bool(words) and all(w in self.chit_chat for w in words)

    def label(self, name: str | None, language: str) -> str:
        """A category's reply label; the raw name for categories not in the taxonomy."""
        cat = self.categories.get(name or "")
        return cat.label(language) if cat else (name or "?")


@lru_cache(maxsize=4)
def taxonomy(path: str | None = None) -> Taxonomy:
    """The taxonomy at `path` (default packaged), loaded once per process."""
    return Taxonomy.load(Path(path) if path else None)
