"""How a reply fits in SMS (bots/sms/segments.py): GSM-7 vs UCS-2, 160 / 70 units alone and 153 / 67 per part,
the cap on parts and its ellipsis, a numbered menu kept whole, typographic punctuation as GSM-7 look-alikes."""
from __future__ import annotations

import pytest

from bots.sms import segments


def test_gsm7_fits_160_in_one_sms_and_153_per_part() -> None:
    assert segments.split("a" * 160, 4) == ["a" * 160]
    parts = segments.split("a" * 161, 4)
    assert [len(p) for p in parts] == [153, 8]
    assert [len(p) for p in segments.split("a" * 161, 4, concatenated=False)] == [160, 1]  # separate SMS: 160 each
    assert segments.encoding("Banjir di Jl. Dermaga, RT 03/RW 05 @ 07:00 (£$¥ èéù)") == "gsm7"


def test_gsm7_extension_characters_take_two_septets_and_stay_whole() -> None:
    assert segments.length("€[]") == 6
    assert segments.split("€" * 80, 4) == ["€" * 80]  # 160 septets
    parts = segments.split("€" * 81, 4)
    assert [len(p) for p in parts] == [76, 5] and segments.encoding("".join(parts)) == "gsm7"  # 152 + 10 septets


def test_ucs2_fits_70_in_one_sms_and_67_per_part() -> None:
    assert segments.encoding("Jalan rusak č") == "ucs2"
    assert segments.split("č" * 70, 4) == ["č" * 70]
    assert [len(p) for p in segments.split("č" * 71, 4)] == [67, 4]
    # One character outside GSM-7 makes the whole reply UCS-2.
    assert [len(p) for p in segments.split("a" * 100 + "č", 4)] == [67, 34]


def test_characters_outside_the_bmp_take_two_units_and_are_never_halved() -> None:
    assert segments.split("🌳" * 35, 4) == ["🌳" * 35]  # 70 units
    parts = segments.split("🌳" * 36, 4)
    assert [len(p) for p in parts] == [33, 3]  # 66 units: a 34th would need 68


def test_parts_break_after_a_space_and_join_back_to_the_text() -> None:
    text = " ".join(f"kata{i}" for i in range(60))
    parts = segments.split(text, 10)
    assert "".join(parts) == text
    assert all(p.endswith(" ") for p in parts[:-1])
    assert all(segments.length(p) <= 153 for p in parts)


@pytest.mark.parametrize("max_parts", [1, 2, 3])
def test_a_gsm7_reply_over_the_cap_is_cut_with_dots_and_stays_gsm7(max_parts: int) -> None:
    text = " ".join(["Laporan Anda sudah diteruskan ke Suku Dinas Sumber Daya Air Jakarta Timur."] * 20)
    parts = segments.split(text, max_parts)
    assert len(parts) == max_parts
    whole = "".join(parts)
    assert whole.endswith(segments.GSM7_ELLIPSIS) and segments.encoding(whole) == "gsm7"
    assert text.startswith(whole[:-3].rstrip())
    room = 160 if max_parts == 1 else 153
    assert all(segments.length(p) <= room for p in parts)
    assert segments.length(whole) > (max_parts - 1) * 153  # the cut uses the room it has


def test_a_ucs2_reply_over_the_cap_ends_with_an_ellipsis() -> None:
    text = "Terima kasih 🙏 " * 40
    parts = segments.split(text, 2)
    assert len(parts) == 2 and parts[-1].endswith("…")
    assert all(segments.length(p) <= 67 for p in parts)


def test_a_menu_at_the_end_is_kept_whole_when_the_text_is_cut() -> None:
    menu = "\n\nBalas dengan angka pilihan Anda:\n1. Banjir\n2. Sampah\n3. Lainnya"
    parts = segments.split("Mohon pilih kategori laporan Anda. " * 20, 2, tail=menu)
    whole = "".join(parts)
    assert len(parts) == 2 and whole.endswith("..." + menu) and all(segments.length(p) <= 153 for p in parts)
    assert segments.split("Pilih:", 2, tail=menu) == ["Pilih:" + menu]
    assert "".join(segments.split("x", 1, tail="y" * 500)).endswith("...")  # a tail too long for the cap is cut too


def test_typographic_punctuation_has_gsm7_lookalikes() -> None:
    text = segments.plain("Lokasi: belum diketahui — balas “alamat” … ‘RT’ 3–5\u00a0ok 🌳")
    assert text == 'Lokasi: belum diketahui - balas "alamat" ... \'RT\' 3-5 ok 🌳'
    assert segments.encoding(text[:-2]) == "gsm7"


def test_the_templates_check_marks_are_dropped() -> None:
    menu = "Apakah sudah beres?\n\nBalas dengan angka pilihan Anda:\n1. Sudah beres ✅\n2. Belum ❌\n3. ✅ Banjir"
    text = segments.plain(menu)
    assert text.endswith("\n1. Sudah beres\n2. Belum\n3. Banjir") and segments.encoding(text) == "gsm7"
    assert segments.plain("Pohon tumbang 🌳 ✔\ufe0f") == "Pohon tumbang 🌳"


def test_a_cap_of_separate_sms_counts_160_per_part() -> None:
    parts = segments.split("b" * 1000, 3, concatenated=False)
    assert [segments.length(p) for p in parts] == [160, 160, 160] and parts[-1].endswith("...")
