"""What of a citizen's text may be shown publicly: the report, without the personal data people type into it."""
from __future__ import annotations

import re

# Indonesian phone numbers as people write them: 0812-3456-7890, +62 812 3456 7890, (021) 555-1234, 62812...
# (at least 8 digits after the 0 or 62, so a date such as 08-11-2026 is not one)
_PHONE = re.compile(r"(?<!\w)\(?(?:\+?62|0)[\s\-.()]*\d(?:[\s\-.()]*\d){7,12}(?!\w)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}")
_LONG_NUMBER = re.compile(r"(?<!\d)\d{10,}(?!\d)")  # NIK (16 digits), KK, account and card numbers
_URL = re.compile(r"https?://\S+")


def redact(text: str) -> str:
    """`text` with phone numbers, email addresses, @handles, long id numbers and links masked."""
    text = _URL.sub("[tautan]", text)
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[telepon]", text)
    text = _LONG_NUMBER.sub("[nomor]", text)
    return _HANDLE.sub("@[akun]", text)
