"""Personal data people type into reports, masked: what of a citizen's text may be shown publicly or kept as a
training example (web/privacy.py and store/examples.py use it)."""
from __future__ import annotations

import re

# Indonesian phone numbers as people write them: 0812-3456-7890, +62 812 3456 7890, (021) 555-1234, 62812...
# (at least 8 digits after the 0 or 62, so a date such as 08-11-2026 is not one)
_PHONE = re.compile(r"(?<!\w)\(?(?:\+?62|0)[\s\-.()]*\d(?:[\s\-.()]*\d){7,12}(?!\w)")
_USER = r"(?<![\w.+-])[\w.+-]+"  # from the start of a run only: linear time on a long word
# With or without a top-level domain: budi@example is someone's address on an intranet or a typo of one.
_EMAIL = re.compile(rf"{_USER}@[\w-]+(?:\.[\w-]+)*")
_LABEL = r"[a-z0-9][a-z0-9-]*"
_DOT = r"(?:\s*[\[({]\s*dot\s*[\])}]\s*|\s+dot\s+|\.)"
# budi [at] example.com, siti.r(at)gmail.com, budi {at} kantor: a bracketed "at" is never ordinary prose.
_BRACKETED_EMAIL = re.compile(rf"{_USER}\s*[\[({{]\s*at\s*[\])}}]\s*{_LABEL}(?:{_DOT}{_LABEL})*", re.I)
# budi @ gmail.com: spaces around the @, so the domain must have a dot.
_SPACED_EMAIL = re.compile(rf"{_USER}\s+@\s+{_LABEL}(?:{_DOT}{_LABEL})+", re.I)
# budi at gmail dot com: "at" is an English word ("flood at Jalan Sudirman"), so only a known top-level
# domain (or Indonesia's second-level ones) at the end makes it an address.
_TLD = r"(?:com|net|org|id|info|biz|me|io|co|edu|gov|ac|go|or|sch|web|my|xyz)"
_SPOKEN_EMAIL = re.compile(rf"{_USER}\s+at\s+{_LABEL}(?:{_DOT}{_LABEL})*{_DOT}{_TLD}(?![\w-])", re.I)
# Profiles and messenger links, with or without a scheme or www. (a scheme is masked by _URL first); the
# site named without a path ("lihat instagram.com") names nobody and stays. Trailing punctuation is prose.
_SOCIAL = re.compile(
    r"(?<![\w.@/-])(?:(?:www|m|mobile|web)\.)?"
    r"(?:t\.me|telegram\.me|wa\.me|api\.whatsapp\.com|chat\.whatsapp\.com|instagram\.com|instagr\.am|"
    r"facebook\.com|fb\.com|fb\.me|tiktok\.com|vm\.tiktok\.com|x\.com|twitter\.com|threads\.net|line\.me)"
    r"/(?:[^\s.,;:!?)\]]+|[.,;:!?)\]]+(?=[^\s.,;:!?)\]]))*+", re.I)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_LONG_NUMBER = re.compile(r"(?<!\d)\d{10,}(?!\d)")  # NIK (16 digits), KK, account and card numbers
_URL = re.compile(r"https?://\S+")


def redact(text: str) -> str:
    """`text` with phone numbers, email addresses (obfuscated ones too), @handles, long id numbers, links and
    social profile links masked."""
    text = _URL.sub("[tautan]", text)
    # Before emails and handles: tiktok.com/@budi is one link, not a site and a handle.
    text = _SOCIAL.sub("[tautan]", text)
    for email in (_BRACKETED_EMAIL, _SPACED_EMAIL, _SPOKEN_EMAIL, _EMAIL):
        text = email.sub("[email]", text)
    text = _PHONE.sub("[telepon]", text)
    text = _LONG_NUMBER.sub("[nomor]", text)
    return _HANDLE.sub("@[akun]", text)
