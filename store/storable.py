"""Make what channels deliver storable on every backend: finite numbers, no NUL, valid UTF-8, keys that fit.

JSON parsers (Python's included) accept `1e400` (→ inf), `NaN` and `"\\ud800"`; PostgreSQL's json refuses
Infinity and NaN, its text refuses NUL, and UTF-8 cannot encode a lone surrogate. What cannot be stored as
it came is stored cleaned, beside the original as ASCII JSON text (escapes keep every character readable).
"""
from __future__ import annotations

import hashlib
import json
import math
from typing import Any

KEY_SIZE = 255  # inbound_messages.key is varchar(255)
REPLACEMENT = "\ufffd"  # what a lone surrogate becomes: the character Unicode reserves for "undecodable"
# Non-finite numbers become the words JSON-with-extensions writes for them: a string, so a reader that wants a
# number fails loudly instead of reading a made-up value.
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def clean_text(text: str) -> str:
    """Text every backend stores: lone surrogates become U+FFFD, NUL characters go; anything else is kept."""
    if "\x00" not in text and text.isascii():
        return text  # the common case, without an encode
    text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        # Through UTF-16, a pair of surrogates that Python kept apart becomes the one character it stands for;
        # only a lone half is replaced.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def storable(value: Any) -> tuple[Any, bool]:
    """A JSON value every backend stores (non-finite numbers as strings, text cleaned); → (value, changed).
    Raises RecursionError for a value nested too deep to store at all."""
    if isinstance(value, str):
        cleaned = clean_text(value)
        return cleaned, cleaned != value
    if isinstance(value, float):
        if math.isfinite(value):
            return value, False
        return ("NaN" if math.isnan(value) else _NON_FINITE[value]), True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, item in value.items():
            name, renamed = storable(key) if isinstance(key, str) else (str(key), False)
            out[name], changed_item = storable(item)
            changed = changed or renamed or changed_item
        return out, changed or len(out) != len(value)
    if isinstance(value, (list, tuple)):
        items = [storable(item) for item in value]
        return [item for item, _ in items], any(changed for _, changed in items)
    return value, False  # bool, int, None; anything else is the caller's to have made JSON-safe


def original_text(value: Any, limit: int = 1_000_000) -> str:
    """The payload as it came, as ASCII JSON text (Infinity, NaN, \\u0000 and \\ud800 written out), at most
    `limit` characters."""
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True, default=repr)
    except (RecursionError, ValueError) as exc:  # nested too deep: say so, keep what a repr can show
        text = f"<not JSON: {type(exc).__name__}> " + clean_text(ascii(_shallow(value)))
    return text[:limit]


def _shallow(value: Any, depth: int = 20) -> Any:
    """The first levels of a value (a payload nested thousands deep has no complete text form worth keeping)."""
    if depth == 0:
        return "…"
    if isinstance(value, dict):
        return {k: _shallow(v, depth - 1) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [_shallow(v, depth - 1) for v in value[:50]]
    return value


def fit_key(key: str, size: int = KEY_SIZE) -> str:
    """An idempotency key that fits its column: cleaned, and one too long cut, with a hash of the whole so two
    keys that share their start stay apart (and a replay still finds its row)."""
    key = clean_text(key)
    if len(key) <= size:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:size - len(digest) - 1]}~{digest}"
