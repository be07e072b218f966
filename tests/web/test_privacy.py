"""What the public may read of a report: personal data typed into it is masked, the report itself is kept."""
from __future__ import annotations

import pytest

from web.privacy import redact


@pytest.mark.parametrize("text, shown", [
    ("hub 0812-3456-7890 pak budi", "hub [telepon] pak budi"),
    ("wa +62 812 3456 7890", "wa [telepon]"),
    ("telp (021) 555-1234", "telp [telepon]"),
    ("628123456789 bisa dihubungi", "[telepon] bisa dihubungi"),
    ("email budi.s@example.com ya", "email [email] ya"),
    ("@budi_s @DKIJakarta banjir", "@[akun] @[akun] banjir"),
    ("NIK 3175071234567890", "NIK [nomor]"),
    ("foto https://t.co/abc123 ini", "foto [tautan] ini"),
    # A report's own numbers stay: addresses, heights, times, dates.
    ("rt 03/rw 05 jl. dermaga no 12", "rt 03/rw 05 jl. dermaga no 12"),
    ("tinggi air 50 cm jam 07.30 tgl 08-11-2026", "tinggi air 50 cm jam 07.30 tgl 08-11-2026"),
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaping is the renderer's job
])
def test_personal_data_is_masked_and_the_report_kept(text: str, shown: str) -> None:
    assert redact(text) == shown
