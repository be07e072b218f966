"""Public aliases: a citizen may opt in to the public page's top reporters under a handle they choose
(`/publik nama <alias>`) and opt out again (`/publik hapus`). Nobody is listed by default, and a handle that
could reach or name a person (a phone number, an email, a link) is refused politely."""
from __future__ import annotations

import logging
import re
import unicodedata

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.models import Citizen

log = logging.getLogger(__name__)

MIN_LENGTH, MAX_LENGTH = 3, 24
MAX_DIGITS = 4  # "budi1987" is a handle; five digits or more may be part of a phone number
# Letters (any script), digits, spaces, and . _ - between them.
_ALLOWED = re.compile(r"^[\w .\-]+$")
_EMAIL = re.compile(r"@|\bat\b.*\bdot\b", re.IGNORECASE)
_LINK = re.compile(r"https?|www|\.(com|id|net|org|co|go|io|me|info|ly|xyz|biz)\b|[a-z0-9]\.[a-z]{2,}\.[a-z]{2,}",
                   re.IGNORECASE)
# Handles that would read as the city speaking.
RESERVED = ("admin", "petugas", "pemprov", "pemda", "crophub", "moderator", "resmi", "official", "dinas", "lurah",
            "camat", "gubernur")

VERBS_SET = ("nama", "name", "set")
VERBS_CLEAR = ("hapus", "remove", "off", "clear")


class Refused(ValueError):
    """An alias that cannot be used; its message is the template key that tells the citizen why."""


def clean(raw: str) -> str:
    """`raw` as it would be shown: NFKC-normalised (no look-alike full-width letters), spaces collapsed; or
    Refused with the reason."""
    alias = " ".join(unicodedata.normalize("NFKC", raw).split())
    if len(alias) < MIN_LENGTH:
        raise Refused("alias_short")
    if len(alias) > MAX_LENGTH:
        raise Refused("alias_long")
    if _EMAIL.search(alias) or _LINK.search(alias) or sum(c.isdigit() for c in alias) > MAX_DIGITS:
        raise Refused("alias_contact")  # before the character check: "@" and "/" would fail that too
    if not _ALLOWED.match(alias) or sum(c.isalpha() for c in alias) < 2:
        raise Refused("alias_chars")
    words = re.split(r"[\s._\-\d]+", alias.lower())
    if any(word in RESERVED for word in words) or any(w in "".join(words) for w in ("admin", "crophub", "official")):
        raise Refused("alias_reserved")
    return alias


def set_alias(session: Session, citizen_id: int, raw: str) -> str:
    """Give the citizen the public alias `raw` (cleaned); → the alias as stored, or Refused (also when another
    citizen has it, whatever its case)."""
    alias = clean(raw)
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise Refused("alias_unavailable")
    taken = session.scalar(select(Citizen.id).where(func.lower(Citizen.public_alias) == alias.lower(),
                                                    Citizen.id != citizen_id).limit(1))
    if taken is not None:
        raise Refused("alias_taken")
    try:
        with session.begin_nested():  # two citizens asking for it at once: the second is told it is taken
            citizen.public_alias = alias
            session.flush()
    except IntegrityError:
        session.refresh(citizen)
        raise Refused("alias_taken") from None
    return alias


def clear_alias(session: Session, citizen_id: int) -> bool:
    """Take the citizen off the public list; → whether they were on it."""
    citizen = session.get(Citizen, citizen_id)
    if citizen is None or citizen.public_alias is None:
        return False
    citizen.public_alias = None
    return True


def current(session: Session, citizen_id: int) -> str | None:
    """The citizen's public alias, if they opted in."""
    citizen = session.get(Citizen, citizen_id)
    return citizen.public_alias if citizen is not None else None


def log_refusal(reason: str, raw: str) -> None:
    """One line for a refused alias: the reason and its length, not the text (it may hold a phone number)."""
    log.info("aliases: refused an alias of %d characters: %s", len(raw), reason)
