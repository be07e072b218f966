"""What a ticket's public id looks like (store.ops.create_tickets makes them: JKT-2026-000123), so that anything
else is refused by its shape before a lookup: a 5,000-digit "id" never reaches the database or a reply."""
from __future__ import annotations

import re

MAX_LENGTH = 32  # tickets.public_id is a String(32)
# Prefix (hub settings allow 2-8 letters), year, the row id zero-padded to six digits or more.
PATTERN = re.compile(r"[A-Z]{2,8}-\d{4}-\d{6,18}", re.IGNORECASE | re.ASCII)
EXAMPLE = "JKT-2026-000123"


def parse(text: str) -> str | None:
    """`text` as a public ticket id (upper case), or None when it cannot be one."""
    candidate = text.strip()
    if len(candidate) > MAX_LENGTH or not PATTERN.fullmatch(candidate):
        return None
    return candidate.upper()


def shown(text: str, size: int = MAX_LENGTH) -> str:
    """`text` cut to `size` characters, control characters as "?", for echoing back in a reply or an error (a
    "…" says it was cut)."""
    cut = text if len(text) <= size else text[: size - 1] + "…"
    return "".join(c if c.isprintable() else "?" for c in cut)
