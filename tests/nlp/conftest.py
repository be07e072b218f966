"""A classifier model trained once per session from the NLP tests' own small examples."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import classify
from nlp.classify import Classifier
from tests.nlp.examples import EXAMPLES


@pytest.fixture(scope="session")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A classifier model trained from EXAMPLES."""
    train_dir = tmp_path_factory.mktemp("train")
    for category, texts in EXAMPLES.items():
        (train_dir / f"{category}.jsonl").write_text(
            "".join(json.dumps({"text": t, "category": category}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path_factory.mktemp("model")
    classify.train(out, train_dir, seed=0)
    return out


@pytest.fixture(scope="session")
def classifier(model: Path) -> Classifier:
    """The classifier over that model."""
    return Classifier(model)
