"""How a reply fits in SMS: GSM-7 or UCS-2, 160 / 70 units in one SMS, 153 / 67 per part when concatenated
(the user data header takes the rest), and a cap on the parts a reply may cost. Pure."""
from __future__ import annotations

import re
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# The GSM 03.38 default alphabet (one septet each; ESC, 0x1B, left out: it only introduces the extension table).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# Its extension table: two septets each (ESC + the character).
GSM7_EXTENDED = frozenset("\f^{}\\[~]|€")
SINGLE = {"gsm7": 160, "ucs2": 70}  # units in one SMS
PART = {"gsm7": 153, "ucs2": 67}  # units in each part of a concatenated SMS
ELLIPSIS = "…"  # ends a reply cut to the cap
# "…" is not in GSM-7: a GSM-7 reply ending in it would go as UCS-2 and lose more than half of each part's room,
# so a GSM-7 reply is cut with three dots instead.
GSM7_ELLIPSIS = "..."


# Typographic characters outside GSM-7 and their GSM-7 look-alikes (as Twilio's "Smart Encoding" replaces them):
# one dash in a template would otherwise send the whole reply as UCS-2, in parts of 67 instead of 153.
LOOKALIKES = str.maketrans({
    "\u2014": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-", "\u2212": "-",  # dashes, minus
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
    "\u2033": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u2022": "-", "\u00b7": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\u2060": "", "\ufeff": "",
})


# The check marks the templates put on buttons ("Sudah beres ✅", "Belum ❌"), and a space before them: decoration
# that, in a numbered menu, would make the whole question UCS-2 and double its parts. Other emoji are kept.
MARKS = re.compile(" ?[\u2705\u274c\u2714\u2716]\ufe0f?")


def plain(text: str) -> str:
    """`text` with typographic characters replaced by their GSM-7 look-alikes and the templates' check marks
    dropped (letters and other emoji are kept)."""
    return MARKS.sub("", text.translate(LOOKALIKES))


def encoding(text: str) -> Encoding:
    """GSM-7 when every character is in its alphabet, else UCS-2."""
    return "gsm7" if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text) else "ucs2"


def units(char: str, enc: Encoding) -> int:
    """What one character costs: septets in GSM-7, 16-bit code units in UCS-2 (UTF-16: 2 outside the BMP)."""
    if enc == "gsm7":
        return 2 if char in GSM7_EXTENDED else 1
    return 2 if ord(char) > 0xFFFF else 1


def length(text: str, enc: Encoding | None = None) -> int:
    """`text`'s length in its encoding's units."""
    enc = enc or encoding(text)
    return sum(units(c, enc) for c in text)


def split(text: str, max_parts: int, concatenated: bool = True, tail: str = "") -> list[str]:
    """`text` + `tail` as SMS parts: one when it fits in one SMS, else parts of 153 / 67 units (`concatenated`) or
    160 / 70 (each part its own SMS), broken after a space where one is near; when longer than `max_parts` parts,
    `text` is cut and ends in an ellipsis, and `tail` (a numbered menu: what the citizen answers with) is kept
    whole after it. A character's units are never split between parts. "".join(parts) is what is sent."""
    if max_parts < 1:
        raise ValueError("max_parts must be at least 1")
    parts = _parts(text + tail, concatenated)
    if len(parts) <= max_parts:
        return parts
    if len(_parts(_cut(text, 0, tail), concatenated)) > max_parts:  # the tail alone is too long: cut it all
        return split(text + tail, max_parts, concatenated)
    # The longest cut that fits: more text never needs fewer parts (a character only adds units, and the
    # encoding only ever turns from GSM-7 to UCS-2), so the number of parts grows with the cut's length.
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if len(_parts(_cut(text, mid, tail), concatenated)) <= max_parts:
            low = mid
        else:
            high = mid - 1
    end = low
    space = text.rfind(" ", 0, end + 1)
    if space > 0 and end - space <= _NEAR:  # end at a word's end rather than in a word
        end = space
    return _parts(_cut(text, end, tail), concatenated)


def _cut(text: str, end: int, tail: str) -> str:
    kept = text[:end].rstrip()
    return kept + (GSM7_ELLIPSIS if encoding(kept + tail) == "gsm7" else ELLIPSIS) + tail


_NEAR = 20  # characters: how far back from a part's end a space may be to end the part there


def _parts(text: str, concatenated: bool) -> list[str]:
    enc = encoding(text)
    if length(text, enc) <= SINGLE[enc]:
        return [text]
    room = PART[enc] if concatenated else SINGLE[enc]
    parts: list[str] = []
    start = used = 0
    for i, char in enumerate(text):
        cost = units(char, enc)
        if used + cost > room:
            cut = i
            space = text.rfind(" ", start, i)
            if space >= start and i - space <= _NEAR:
                cut = space + 1  # the space stays at the end of its part: the parts join back to the text
            parts.append(text[start:cut])
            start, used = cut, length(text[cut:i], enc)
        used += cost
    parts.append(text[start:])
    return parts
