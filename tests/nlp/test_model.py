"""The n-gram classifier: seeded repeatability, the water guard, extra examples, and `eval`'s figures."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from nlp import classify, evaluate
from nlp.classify import WATER, Classifier
from tests.nlp.examples import EXAMPLES

SAMPLES = ["sampah numpuk di gang", "banjir di rumah", "parkir liar", "halo min", "air got meluap ke jalan"]


def _train_dir(tmp_path: Path) -> Path:
    train_dir = tmp_path / "train"
    train_dir.mkdir(exist_ok=True)
    for category, texts in EXAMPLES.items():
        (train_dir / f"{category}.jsonl").write_text(
            "".join(json.dumps({"text": t, "category": category}) + "\n" for t in texts), encoding="utf-8")
    return train_dir


def test_same_seed_same_model(tmp_path: Path) -> None:
    train_dir = _train_dir(tmp_path)
    first = classify.train(tmp_path / "a", train_dir, seed=3)
    second = classify.train(tmp_path / "b", train_dir, seed=3)
    assert {k: v for k, v in first.items() if k != "seconds"} == {k: v for k, v in second.items() if k != "seconds"}
    a, b = Classifier(tmp_path / "a"), Classifier(tmp_path / "b")
    assert a.predict(SAMPLES) == b.predict(SAMPLES)
    assert (a.probabilities(SAMPLES) == b.probabilities(SAMPLES)).all()
    meta = classify.model_meta(tmp_path / "a")
    assert 0 <= float(meta["threshold"]) <= 1 and 0 <= float(meta["water_mass"]) <= 1  # type: ignore[arg-type]
    assert sum(f.stat().st_size for f in (tmp_path / "a").iterdir()) < 20_000_000


def test_the_water_guard_asks_instead_of_filing_elsewhere(model: Path) -> None:
    text = "sampah numpuk, got mampet, air meluap ke rumah"  # a garbage phrase decides; water is plausible
    [calm] = Classifier(model, threshold=0.0, water_mass=1.0).predict([text])
    assert calm.category == "garbage" and not calm.needs_confirmation
    [guarded] = Classifier(model, threshold=0.0, water_mass=0.05).predict([text])
    assert guarded.category == "garbage" and guarded.needs_confirmation
    assert guarded.alternatives and guarded.alternatives[0] in WATER
    [flood] = Classifier(model, threshold=0.0, water_mass=0.0).predict(["banjir sepinggang di gang kami"])
    assert flood.category == "flood" and not flood.needs_confirmation  # the guard never flags water itself


def test_a_text_that_names_a_flood_is_asked_about_when_another_category_wins(model: Path) -> None:
    classifier = Classifier(model, threshold=0.0, water_mass=1.0)  # the scores alone would never flag
    plain, flooded, kebanjiran = classifier.predict(["parkir liar bikin macet", "parkir liar bikin macet, ada genangan",
                                                     "parkir liar di gang yg kebanjiran"])
    assert plain.category == "illegal_parking" and not plain.needs_confirmation
    for guarded in (flooded, kebanjiran):  # "kebanjiran" is read through its stem
        assert guarded.category == "illegal_parking" and guarded.needs_confirmation
        assert guarded.alternatives[0] in WATER


def test_held_out_folds_leave_whole_batches_out(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    single = _train_dir(tmp_path / "one")
    assert classify.train(tmp_path / "a", single)["held_out"]["by_batch"] is False  # type: ignore[index]
    batched = tmp_path / "batched"
    batched.mkdir()
    for path in sorted(single.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        for batch in range(3):  # every category in three batches: each fold still trains on all of them
            (batched / f"{path.stem}_{batch + 1}.jsonl").write_text("".join(lines[batch::3]), encoding="utf-8")
    assert classify.batch_of(batched / "flood_3.jsonl") == 3 and classify.batch_of(single / "flood.jsonl") == 1
    assert classify.train(tmp_path / "b", batched)["held_out"]["by_batch"] is True  # type: ignore[index]


def test_a_text_of_words_the_model_never_saw_is_flagged_whatever_its_score(model: Path) -> None:
    classifier = Classifier(model, threshold=0.0, water_mass=1.0)  # neither the threshold nor the guard flags
    unknown, known = classifier.predict(["qwzx vbnmk", "sampah numpuk di gang"])
    assert unknown.needs_confirmation and unknown.source == "model"
    assert not known.needs_confirmation


def test_extra_examples_change_the_model(tmp_path: Path) -> None:
    train_dir = _train_dir(tmp_path)
    plain = classify.train(tmp_path / "plain", train_dir)
    extra = [("lampu taman padam total di rt 5", "other"), ("lampu taman padam lagi malam ini", "other")] * 3
    more = classify.train(tmp_path / "more", train_dir, extra=extra)
    assert more["examples"] == plain["examples"] + len(extra)  # type: ignore[operator]
    assert more["extra"] != plain["extra"]
    assert more["fingerprint"] == plain["fingerprint"]  # the files' fingerprint: both models are current
    assert classify.training_fingerprint(train_dir, extra=extra) != classify.training_fingerprint(train_dir)
    [before] = Classifier(tmp_path / "plain").predict(["lampu taman padam"])
    [after] = Classifier(tmp_path / "more").predict(["lampu taman padam"])
    assert before.category != "other" and after.category == "other"


def _csv(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_eval_prints_every_figure(model: Path, tmp_path: Path) -> None:
    codes = {"kelurahan_kode": "", "kecamatan_kode": "", "kab_kota_kode": ""}
    _csv(tmp_path / "jaki_dev.csv", [
        {"id": "1", "text": "sampah numpuk di pinggir kali", "category": "garbage", **codes},
        {"id": "2", "text": "parkir liar di trotoar depan toko", "category": "illegal_parking", **codes},
        {"id": "3", "text": "terima kasih min", "category": "not_report", **codes},
        {"id": "4", "text": "air masuk rumah sejak pagi", "category": "flood", **codes},
    ])
    _csv(tmp_path / "petabencana_dev.csv", [
        {"id": "1", "day": "20", "source": "qlue", "text": "banjir 30 cm di gang", "lon": "106.900447",
         "lat": "-6.225014", **codes},
        {"id": "2", "day": "20", "source": "qlue", "text": "masih tinggi airnya", "lon": "106.900447",
         "lat": "-6.225014", **codes},
    ])
    out = io.StringIO()
    figures = evaluate.run(tmp_path, Classifier(model), out, compare=Classifier(model, threshold=0.99))
    text = out.getvalue()
    for phrase in ("macro-F1", "accuracy", "precision", "recall", "confusion", "water-related recall",
                   "flagged for confirmation", "accuracy of those not flagged", "silently filed elsewhere",
                   "text geocoding", "reverse geocoding", "compared on the same rows"):
        assert phrase in text, phrase
    assert set(figures) >= {"macro_f1", "accuracy", "water_recall", "flagged", "unflagged_accuracy", "silent_water"}
    assert figures["compare"]["flagged"] >= figures["flagged"]  # a higher threshold asks at least as often


def test_the_flag_budget_counts_the_water_guards_flags_too() -> None:
    import numpy as np
    confidence = np.linspace(0.99, 0.50, 100)
    correct = np.arange(100) < 60  # the 40 least confident are wrong: the target is out of reach
    alone = classify.choose_threshold(confidence, correct, target=0.99, max_flagged=0.25)
    assert (confidence < alone).sum() == 25
    guarded = np.zeros(100, dtype=bool)
    guarded[:10] = True  # ten confident predictions the water guard flags
    shared = classify.choose_threshold(confidence, correct, target=0.99, max_flagged=0.25, guarded=guarded)
    assert ((confidence < shared) | guarded).sum() == 25
