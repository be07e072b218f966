"""Where a message is: a shared point, else the text, else only what a vague location (a tweet's tagged
place) can tell."""
from __future__ import annotations

from typing import Any

from nlp.geocode import Place
from nlp.place_rules import place_of

PONDOK_BAMBU = (-6.225014, 106.900447)  # Pondok Bambu, Duren Sawit, Jakarta Timur


def message(text: str, accuracy_m: float | None = None, point: tuple[float, float] = PONDOK_BAMBU,
            area: bool = True) -> dict[str, Any]:
    """A message's parts as the router passes them: its text, and its location when it has an accuracy."""
    location = {"lat": point[0], "lon": point[1], "accuracy_m": accuracy_m, "title": "Duren Sawit", "area": area} \
        if accuracy_m is not None else {}
    return {"text": text, **location}


def _place(parts: dict[str, Any]) -> Place | None:
    return place_of(**parts)


def test_a_shared_point_wins_over_the_text_however_rough_its_accuracy() -> None:
    for accuracy in (20, 1_200):  # Telegram's horizontal_accuracy goes up to 1,500 m
        place = _place(message("banjir di kel. gondangdia", accuracy_m=accuracy, area=False))
        assert place.source == "point" and place.kelurahan.kode == "31.75.07.1002"


def test_the_text_wins_over_a_vague_place() -> None:
    place = _place(message("banjir di kel. gondangdia", accuracy_m=8_000))
    assert place.source == "text:kelurahan" and place.kelurahan.kode == "31.71.06.1004"


def test_a_vague_place_alone_gives_only_what_its_size_allows() -> None:
    district = _place(message("banjir parah", accuracy_m=1_500))
    assert (district.source, district.kelurahan, district.kecamatan.kode, district.kab_kota.kode) == (
        "place", None, "31.75.07", "31.75")
    city = _place(message("banjir parah", accuracy_m=8_000))
    assert (city.kelurahan, city.kecamatan, city.kab_kota.kode) == (None, None, "31.75")
    assert _place(message("banjir parah", accuracy_m=30_000)) is None  # "Jakarta" as a whole tells nothing


def test_a_point_of_interest_small_enough_is_a_point() -> None:
    place = _place(message("banjir parah", accuracy_m=150))
    assert place.source == "point" and place.kelurahan.kode == "31.75.07.1002"
