"""The NLP tests' own small training set, and a model trained from it once per session."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import classify
from nlp.classify import Classifier

EXAMPLES = {
    "flood": ["banjir sepinggang di gang kami", "air masuk rumah warga sejak subuh", "jalanan tergenang air hujan",
              "flooded street near the market", "banjir lagi min, motor gak bisa lewat"],
    "garbage": ["sampah numpuk di pinggir kali", "tumpukan sampah belum diangkut 3 hari", "bau sampah di tps",
                "garbage piling up near the school", "warga buang sampah sembarangan"],
    "illegal_parking": ["parkir liar di trotoar", "mobil parkir di bahu jalan bikin sempit", "jukir liar minta uang",
                        "cars parked on the sidewalk again", "motor parkir sembarangan depan ruko"],
    "not_report": ["terima kasih min", "selamat pagi", "gimana cara lapor?", "thanks a lot", "halo admin"],
}


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier model trained from EXAMPLES."""
    train_dir = tmp_path_factory.mktemp("train")
    for category, texts in EXAMPLES.items():
        (train_dir / f"{category}.jsonl").write_text(
            "".join(json.dumps({"text": t, "category": category}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path_factory.mktemp("model")
    classify.train(out, train_dir, epochs=30, seed=0)
    return out


@pytest.fixture(scope="session")
def classifier(model: Path) -> Classifier:
    """The classifier over that model."""
    return Classifier(model)
