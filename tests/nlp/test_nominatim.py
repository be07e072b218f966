"""The optional Nominatim fallback, through geopy's real client, against a fake server on loopback."""
from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from nlp.analyse import analyse_lines
from nlp.classify import Classifier
from nlp.geocode import text_place
from nlp.nominatim import SLOW, NominatimFallback, street_of
from tests.fakes.nominatim import FakeNominatim

# A point inside Kel. Kayu Putih (Pulo Gadung, Jakarta Timur), written for this test.
KAYU_PUTIH = (-6.1800, 106.8860)
STREETS = {"Jalan pemuda asli, Jakarta": KAYU_PUTIH}


@pytest.mark.parametrize("text, street", [
    ("lampu mati di jl. pemuda asli no 5", "Jalan pemuda asli"),
    ("Jln Kemuning Raya, RT 03", "Jalan kemuning raya"),
    ("jalan anggrek rosliana depan sekolah", "Jalan anggrek rosliana"),
    ("banjir setinggi lutut", None),
    ("lampu jalan mati di jl. pemuda asli", "Jalan pemuda asli"),
    ("lampu jalan mati jl pemuda asli", "Jalan pemuda asli"),
    ("jalan rusak parah jl. pemuda asli", "Jalan pemuda asli"),
    ("jl. pemuda asli. banjir", "Jalan pemuda asli"),
    ("banjir di jl. pemuda asli sejak pagi", "Jalan pemuda asli"),
    ("jl pemuda asli banyak sampah", "Jalan pemuda asli"),
    ("sampah di jl. h. domang rt 03", "Jalan h domang"),
    ("jalan rusak parah", None),
    ("jalan amblas, tidak bisa dilewati", None),
    ("jl. raya", None),
])
def test_street_of(text: str, street: str | None) -> None:
    assert street_of(text) == street


def test_a_street_the_gazetteer_cannot_place_is_found_through_nominatim() -> None:
    with FakeNominatim(STREETS) as server:
        fallback = NominatimFallback(server.url, user_agent="crophub-test", timeout=2)
        text = "lampu jalan mati di jl. pemuda asli no 5"
        assert text_place(text) is None
        place = fallback.refine(text, text_place(text))
        assert place is not None and place.source == "nominatim"
        assert place.kelurahan is not None and place.kelurahan.kode.startswith("31.75.")
        assert (place.lat, place.lon) == KAYU_PUTIH
        request = server.requests[0]
        assert request["path"] == "/search" and request["user_agent"] == "crophub-test"
        assert request["params"]["countrycodes"] == "id" and request["params"]["bounded"] == "1"
        fallback.refine(text, None)
        assert len(server.requests) == 1  # answered from the cache


def test_a_kelurahan_named_in_the_text_is_not_asked_about() -> None:
    with FakeNominatim(STREETS) as server:
        fallback = NominatimFallback(server.url)
        text = "jl. pemuda asli kel. cip. muara"
        named = text_place(text)
        assert fallback.refine(text, named) is named and server.requests == []


def test_an_answer_outside_the_named_kecamatan_is_not_taken() -> None:
    with FakeNominatim(STREETS) as server:
        fallback = NominatimFallback(server.url)
        text = "jl. pemuda asli, kec. kebon jeruk"  # Jakarta Barat; the fake's street is in Jakarta Timur
        named = text_place(text)
        assert named is not None and named.kecamatan is not None
        assert fallback.refine(text, named) is named and len(server.requests) == 1


def test_a_failing_server_is_logged_and_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    with FakeNominatim(STREETS) as server:
        server.fail_with = 500
        fallback = NominatimFallback(server.url, timeout=2)
        with caplog.at_level(logging.WARNING, logger="nlp.nominatim"):
            assert fallback.refine("jl. pemuda asli", None) is None
            assert fallback.refine("jl. kemuning raya", None) is None
        assert len(server.requests) == 1  # paused after the failure
        assert "nominatim" in caplog.text and "failed" in caplog.text


def test_a_server_that_never_answers_costs_one_timeout_then_is_left_alone() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections are accepted by the kernel, never answered
        fallback = NominatimFallback(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=1)
        started = time.monotonic()
        assert fallback.refine("jl. pemuda asli", None) is None
        first = time.monotonic() - started
        assert fallback.refine("jl. kemuning raya", None) is None
        assert 0.9 < first < 1.9  # one timeout: geopy's default adapter would retry twice (3 s)
        assert time.monotonic() - started - first < 0.1  # paused: no second request


def test_a_slow_or_malformed_answer_pauses_the_fallback(caplog: pytest.LogCaptureFixture) -> None:
    with FakeNominatim(STREETS) as server:
        server.body = {"results": []}  # not Nominatim's list of places
        fallback = NominatimFallback(server.url)
        with caplog.at_level(logging.WARNING, logger="nlp.nominatim"):
            assert fallback.refine("jl. pemuda asli", None) is None
        assert "failed" in caplog.text and len(server.requests) == 1
    with FakeNominatim(STREETS) as server:
        server.delay = SLOW + 0.2
        fallback = NominatimFallback(server.url, timeout=5)
        assert fallback.refine("jl. pemuda asli", None) is not None  # a slow answer is still used
        assert fallback.refine("jl. kemuning raya", None) is None and len(server.requests) == 1


def test_a_street_name_found_in_several_kecamatan_is_not_guessed() -> None:
    with FakeNominatim({"Jalan pemuda asli, Jakarta": KAYU_PUTIH}) as server:
        server.also = [(-6.2250, 106.8000)]  # the same street name in Jakarta Selatan too
        fallback = NominatimFallback(server.url)
        assert fallback.refine("jl. pemuda asli", None) is None
        # The text's own kota settles it.
        place = fallback.refine("jl. pemuda asli, jaktim", text_place("jl. pemuda asli, jaktim"))
        assert place is not None and place.source == "nominatim" and place.kecamatan.kode == "31.75.02"


def test_analyse_uses_the_fallback_only_without_a_point(classifier: Classifier) -> None:
    with FakeNominatim(STREETS) as server:
        fallback = NominatimFallback(server.url)
        lines = [json.dumps({"text": "pju mati di jl. pemuda asli"}),
                 json.dumps({"text": "pju mati di jl. pemuda asli", "lat": -6.2, "lon": 106.85})]
        by_text, by_point = list(analyse_lines(lines, classifier, fallback))
        assert by_text["geocode_source"] == "nominatim" and by_text["place_text"] == "jl. pemuda asli"
        assert by_point["geocode_source"] == "point"


def test_a_bad_url_is_refused() -> None:
    with pytest.raises(ValueError, match="nominatim url"):
        NominatimFallback("nominatim.local")
