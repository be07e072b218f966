"""What the public may read of a report: personal data typed into it is masked, the report itself is kept."""
from __future__ import annotations

import time

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


@pytest.mark.parametrize("text, shown", [
    # Emails written so that bots miss them, and without a top-level domain.
    ("email budi [at] example.com ya", "email [email] ya"),
    ("siti.r(at)gmail.com", "[email]"),
    ("kirim ke budi (at) gmail (dot) com", "kirim ke [email]"),
    ("budi[at]gmail[dot]co[dot]id", "[email]"),
    ("hubungi budi at gmail dot com", "hubungi [email]"),
    ("hubungi budi.s at gmail.com segera", "hubungi [email] segera"),
    ("BUDI [AT] YAHOO [DOT] CO [DOT] ID", "[email]"),
    ("budi [at] kantor", "[email]"),
    ("budi @ gmail.com", "[email]"),
    ("budi@example ya", "[email] ya"),
    # Profiles and messenger links, with and without the scheme.
    ("chat t.me/budisan ya", "chat [tautan] ya"),
    ("wa.me/6281234567890", "[tautan]"),
    ("ig: instagram.com/budi.s.", "ig: [tautan]."),
    ("www.instagram.com/budi_s/", "[tautan]"),
    ("https://www.facebook.com/budi.santoso", "[tautan]"),
    ("m.facebook.com/profile.php?id=1000123, terima kasih", "[tautan], terima kasih"),
    ("fb.com/budi", "[tautan]"),
    ("tiktok.com/@budisan", "[tautan]"),
    ("www.tiktok.com/@budi.s?lang=id", "[tautan]"),
    ("x.com/budisan dan twitter.com/budisan", "[tautan] dan [tautan]"),
    # Ordinary words stay: "at" in English, times, decimals, other sites named without a path.
    ("flood at Jalan Sudirman", "flood at Jalan Sudirman"),
    ("water at 50 cm at 07.30 near the mall", "water at 50 cm at 07.30 near the mall"),
    ("banjir at kemang raya no. 5", "banjir at kemang raya no. 5"),
    ("jalan rusak at the corner. Dot matrix", "jalan rusak at the corner. Dot matrix"),
    ("lihat instagram.com untuk info", "lihat instagram.com untuk info"),
    ("fix.com/abc", "fix.com/abc"),
])
def test_obfuscated_emails_and_social_links_are_masked(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_long_text_is_masked_in_linear_time() -> None:
    # Public pages mask every report they show: one long word must not cost seconds.
    start = time.monotonic()
    for text in ("a" * 20000, "a" * 20000 + " at " + "b." * 5000, "t.me/" + "." * 20000 + "x"):
        redact(text)
    assert time.monotonic() - start < 0.5
