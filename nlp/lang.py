"""Reply language: Indonesian unless the citizen clearly writes English."""
from __future__ import annotations

import re

_WORD = re.compile(r"[a-z']+")
# Frequent function words; a message is English when these clearly outnumber Indonesian ones.
_EN = frozenset(
    "the a an is are was were there here please help my our your this that it in on at of to for with and "
    "not no near street road since from has have been be can could would will i we you they".split()
)
_ID = frozenset(
    "yang di ke dari dan ada tidak nggak gak ga udah sudah belum ini itu tolong mohon pak bu min "
    "jalan jl kel kec dengan untuk sangat banget sekali karena saya kami kita depan dekat sini sana "
    "lagi mau bisa juga tapi atau sama aja kok ya dong deh nih sih".split()
)


def detect(text: str, hint: str | None = None, earlier: str | None = None) -> str:
    """'en' or 'id' for `text`; a message with no word of either (a command, a ticket number, a place name) keeps
    the language the citizen wrote in `earlier`; the channel's language hint breaks ties; Indonesian by default."""
    words = _WORD.findall(text.lower())
    en = sum(w in _EN for w in words)
    id_ = sum(w in _ID for w in words)
    if en == id_ == 0 and earlier in ("en", "id"):
        return earlier
    if en > id_ and en >= 2:
        return "en"
    if id_ > en:
        return "id"
    if hint and hint.lower().startswith("en") and en >= id_:
        return "en"
    return "id"


def undecided(text: str) -> bool:
    """True when `text` has no word that tells English from Indonesian (detect then keeps the earlier language)."""
    return not any(w in _EN or w in _ID for w in _WORD.findall(text.lower()))
