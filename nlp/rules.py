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
    names: tuple[str, ...] = ()  # what citizens call it when asked which category it is ("banjir", "sampah")

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
            Category(c["name"], c["label"]["id"], c["label"]["en"], tuple(c.get("keywords") or ()),
                     tuple(n.lower() for n in c.get("names") or ()))
            for c in data["categories"]
        ]
        return cls(cats, {w.lower() for w in data.get("chit_chat", [])})

    def is_chit_chat(self, text: str) -> bool:
        """True when the text is only greetings/thanks (and at least one word)."""
        words = _WORD.findall(text.lower())
        return bool(words) and all(w in self.chit_chat for w in words)

    def named(self, answer: str) -> str | None:
        """The one category a short answer names: by its names, its labels, or its code; None if none or
        several."""
        text = " ".join(_WORD.findall(answer.lower().replace("/", " ")))
        found = set()
        for cat in self.categories.values():
            forms = {cat.name.replace("_", " "), cat.label_id.lower(), cat.label_en.lower(), *cat.names}
            forms |= {part.strip() for form in (cat.label_id.lower(), cat.label_en.lower()) for part in form.split("/")}
            if text in {" ".join(_WORD.findall(f)) for f in forms}:
                found.add(cat.name)
        return found.pop() if len(found) == 1 else None

    def label(self, name: str | None, language: str) -> str:
        """A category's reply label; the raw name for categories not in the taxonomy."""
        cat = self.categories.get(name or "")
        return cat.label(language) if cat else (name or "?")


@lru_cache(maxsize=4)
def taxonomy(path: str | None = None) -> Taxonomy:
    """The taxonomy at `path` (default packaged), loaded once per process."""
    return Taxonomy.load(Path(path) if path else None)
