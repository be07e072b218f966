"""Places in text and points, over the packaged gazetteer (examples written for these tests)."""
from __future__ import annotations

import pytest

from nlp.geocode import JakartaGeocoder, reverse_place, text_place
from nlp.places import index


@pytest.mark.parametrize(
    "text, kelurahan, kecamatan, kota",
    [
        ("banjir di kel. cip. muara jaktim", "31.75.03.1006", "31.75.03", "31.75"),  # Cipinang Muara
        ("sampah numpuk di kp melayu rt 03/rw 05", "31.75.03.1001", "31.75.03", "31.75"),
        ("macet parah di kramatjati", None, "31.75.04", "31.75"),  # kecamatan and kelurahan: the safe reading
        ("kel. kramat jati depan pasar", "31.75.04.1001", "31.75.04", "31.75"),
        ("jl. h. domang kelapadua kebon jeruk", "31.73.05.1004", "31.73.05", "31.73"),
        ("depan halte cawang sutoyo", "31.75.04.1007", "31.75.04", "31.75"),  # an area inside a landmark name
        ("lokasinya di jakarta barat", None, None, "31.73"),
        ("Cemp. Putih Tim., Kec. Cemp. Putih", "31.71.05.1001", "31.71.05", "31.71"),
    ],
)
def test_text_names_an_area(text: str, kelurahan: str | None, kecamatan: str | None, kota: str) -> None:
    place = text_place(text)
    assert place is not None
    fields = place.fields()
    assert (fields["kelurahan_kode"], fields["kecamatan_kode"], fields["kab_kota_kode"]) == (kelurahan, kecamatan, kota)


def test_a_street_named_after_an_area_is_not_the_area() -> None:
    assert text_place("jalan rusak di jl. kebon jeruk raya") is None
    assert text_place("Jl. Raya Pasar Minggu berlubang") is None


def test_common_words_need_a_level_word() -> None:
    assert text_place("tolong segera, rumah baru di tengah gang") is None
    place = text_place("kel. gunung")
    assert place is not None and place.kelurahan is not None and place.kelurahan.nama == "Gunung"


@pytest.mark.parametrize(
    "text, kelurahan",
    [
        ("trotoar dipakai jualan, Jl. Kemang Raya, Bangka, Mampang Prapatan", "31.74.03.1002"),
        ("got mampet di gang sebelah masjid, bangka mampang prapatan", "31.74.03.1002"),
        ("Jl. Kemang Raya no 8 Bangka (kec. Mampang Prapatan)", "31.74.03.1002"),
        ("lampu padam. rt 04/rw 02, Bangka, Jaksel", "31.74.03.1002"),
        ("pohon rawan tumbang di karet setiabudi", "31.74.02.1004"),  # Karet, Setiabudi
        ("Pela Mampang, Jakarta Selatan: parkir liar tiap sore", "31.74.03.1003"),
        ("spanduk liar di Cikini Menteng", "31.71.06.1003"),
    ],
)
def test_a_bare_kelurahan_beside_its_own_kecamatan_or_kota(text: str, kelurahan: str) -> None:
    place = text_place(text)
    assert place is not None and place.source == "text:kelurahan"
    assert place.kelurahan is not None and place.kelurahan.kode == kelurahan
    assert place.kecamatan is not None and place.kecamatan.kode == kelurahan[:8]
    assert place.kab_kota.kode == kelurahan[:5]


@pytest.mark.parametrize(
    "text, kecamatan, kota",
    [
        ("Jl. Kemang Raya, Mampang Prapatan", "31.74.03", "31.74"),  # the street is not a kelurahan
        ("Jl. Bangka Raya, Mampang Prapatan", "31.74.03", "31.74"),  # a street named after it neither
        ("bangka, menteng", "31.71.06", "31.71"),  # not in that kecamatan: the word is not the kelurahan
        ("rumah baru, jakarta timur, atapnya bocor", None, "31.75"),  # an ordinary word before a kota
        ("banjir di tengah kota jakarta timur", None, "31.75"),
    ],
)
def test_a_bare_word_needs_its_own_parent_right_after_it(text: str, kecamatan: str | None, kota: str) -> None:
    place = text_place(text)
    assert place is not None and place.kelurahan is None
    assert (place.kecamatan.kode if place.kecamatan else None, place.kab_kota.kode) == (kecamatan, kota)
    assert text_place("pengemis di depan toko baru itu") is None


@pytest.mark.parametrize(
    "answer, kelurahan",
    [
        ("Jl. Kapten Tendean, kelurahan Pela Mampang", "Pela Mampang"),
        ("di kel. cikini", "Cikini"),
        ("kelurahan: bangka", "Bangka"),
        ("Kel Bangka", "Bangka"),
    ],
)
def test_a_typed_answer_to_where(answer: str, kelurahan: str) -> None:
    place = text_place(answer)
    assert place is not None and place.kelurahan is not None and place.kelurahan.nama == kelurahan


def test_a_landmark_alone_gives_its_kelurahan() -> None:
    place = text_place("lampu mati dekat stasiun manggarai")
    assert place is not None and place.kelurahan is not None and place.kelurahan.nama == "Manggarai"
    assert place.source == "text:kelurahan"


def test_reverse_contains_near_and_outside() -> None:
    inside = reverse_place(-6.225014, 106.900447)
    assert inside.source == "point" and inside.kelurahan is not None and inside.kelurahan.nama == "Pondok Bambu"
    far = reverse_place(-6.9175, 107.6191)  # Bandung
    assert far.source == "outside" and far.kelurahan is None and far.distance_m and far.distance_m > 50_000


def test_the_geopy_geocoder() -> None:
    geocoder = JakartaGeocoder()
    location = geocoder.geocode("pohon tumbang di kel. cip. muara")
    assert location is not None and location.raw["kelurahan"] == "Cipinang Muara"
    assert -6.3 < location.latitude < -6.1
    back = geocoder.reverse((location.latitude, location.longitude))
    assert back is not None and back.raw["kecamatan"] == "Jatinegara"
    assert geocoder.reverse("-6.9175, 107.6191") is None


def test_index_is_built_once() -> None:
    assert index() is index()
