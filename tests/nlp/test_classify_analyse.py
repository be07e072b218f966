"""Classifier training, offline loading, phrase rules, and `analyse` line handling (own small examples)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import classify
from nlp.analyse import MAX_TEXT, analyse_lines
from nlp.classify import Classifier
from tests.nlp.examples import EXAMPLES


def test_training_is_repeatable_and_loads_offline(model: Path, tmp_path: Path) -> None:
    first = Classifier(model).predict(["sampah numpuk di gang", "banjir di rumah"])
    train_dir = tmp_path / "train"
    train_dir.mkdir()
    for category, texts in EXAMPLES.items():
        (train_dir / f"{category}.jsonl").write_text(
            "".join(json.dumps({"text": t, "category": category}) + "\n" for t in texts), encoding="utf-8")
    classify.train(tmp_path / "again", train_dir, seed=0)
    again = Classifier(tmp_path / "again").predict(["sampah numpuk di gang", "banjir di rumah"])
    assert first == again
    assert [p.category for p in first] == ["garbage", "flood"]
    assert all(0 <= p.confidence <= 1 for p in first)


def test_a_phrase_decides_over_the_model(model: Path) -> None:
    [p] = Classifier(model).predict(["ADA POHON TUMBANG di depan sekolah"])  # "tree" has no examples here
    assert (p.category, p.source) == ("tree", "rule") and p.confidence >= classify.RULE_CONFIDENCE


def test_low_confidence_needs_confirmation(model: Path) -> None:
    [p] = Classifier(model, threshold=0.99).predict(["ada masalah di sini"])
    assert p.needs_confirmation and p.source == "model"


def test_unknown_categories_in_training_data_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text(json.dumps({"text": "a", "category": "volcano"}) + "\n")
    with pytest.raises(ValueError, match="volcano"):
        classify.train(tmp_path / "m", tmp_path)


def test_missing_model_says_how_to_build_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="crophub train"):
        Classifier(tmp_path)


def test_analyse_round_trips_and_rejects_bad_lines_one_by_one(model: Path) -> None:
    lines = [
        json.dumps({"text": "sampah numpuk di kel. cip. muara"}),
        "this is not json",
        json.dumps({"text": ""}),
        json.dumps({"text": "banjir", "lat": 123.0, "lon": 106.9}),
        json.dumps({"text": "x" * 50_000}),
        json.dumps(["text"]),
        json.dumps({"text": "banjir", "lat": -6.225014}),
        json.dumps({"text": "parkir liar di sini", "lat": -6.225014, "lon": 106.900447}),
    ]
    out = list(analyse_lines(lines, Classifier(model)))
    assert len(out) == len(lines)
    assert out[0]["category"] == "garbage" and out[0]["kelurahan_kode"] == "31.75.03.1006"
    assert out[0]["geocode_source"] == "text:kelurahan" and out[0]["place_text"] == "cip muara"
    assert out[1]["line"] == 2 and out[1]["error"].startswith("not JSON")
    assert out[2]["error"] == '"text" is empty'
    assert out[3]["error"].startswith("coordinates out of range")
    assert out[4]["error"] == f'"text" is too long (50000 characters; at most {MAX_TEXT})'
    assert out[5]["error"] == "expected a JSON object, got list"
    assert out[6]["error"] == 'give both "lat" and "lon", or neither'
    last = out[7]
    assert last["category"] == "illegal_parking" and last["geocode_source"] == "point"
    assert last["kelurahan"] == "Pondok Bambu" and (last["lat"], last["lon"]) == (-6.225014, 106.900447)
    assert set(last) >= {"category", "confidence", "needs_confirmation", "place_text", "kelurahan_kode",
                         "kecamatan_kode", "kab_kota_kode", "lat", "lon", "geocode_source"}


def test_layout_does_not_change_the_prediction(model: Path) -> None:
    typed = ["sampah numpuk di gang", "banjir di rumah"]
    laid_out = ["sampah  numpuk\n\ndi gang  ", "\tbanjir di\r\nrumah"]
    assert Classifier(model).predict(laid_out) == Classifier(model).predict(typed)
    assert classify.normalise("a \n\n b  ") == "a b"


def test_contact_details_and_markup_do_not_change_the_prediction(model: Path) -> None:
    plain = ["banjir 50 cm di gang", "sampah numpuk di gang"]
    signed = ["banjir 50 cm di gang <b>hubungi</b> 0812-3456-7890 budi.s@example.com",
              "sampah numpuk di gang, wa +62 812 3456 7890"]
    assert classify.normalise(signed[0]) == classify.normalise("banjir 50 cm di gang hubungi")
    assert classify.normalise(signed[1]) == classify.normalise("sampah numpuk di gang, wa")
    assert [p.category for p in Classifier(model).predict(signed)] == [p.category for p in Classifier(model).predict(plain)]
