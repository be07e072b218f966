"""The training data: well-formed, in the taxonomy, and never a copy of the evaluation reports (no run of 5
words shared with any text in ../shared/eval, where that folder is beside the repository)."""
from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from nlp.classify import TRAIN_DIR, read_examples
from nlp.rules import Taxonomy

EVAL_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "eval"
RUN = 5  # words: a shared run this long means a text was copied or closely paraphrased
_WORD = re.compile(r"\w+")


def runs(text: str, size: int = RUN) -> set[tuple[str, ...]]:
    """Every run of `size` consecutive words of `text`, lower-cased."""
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + size]) for i in range(len(words) - size + 1)}


def test_every_example_is_well_formed_and_in_the_taxonomy() -> None:
    pairs = read_examples(TRAIN_DIR)
    assert len(pairs) > 1000
    assert {category for _, category in pairs} <= set(Taxonomy.load().categories)
    assert all(text.strip() for text, _ in pairs)


@pytest.mark.skipif(not EVAL_DIR.is_dir(), reason="../shared/eval is not beside the repository")
def test_no_overlap_no_training_text_shares_five_words_with_an_evaluation_report() -> None:
    evaluation: dict[tuple[str, ...], str] = {}
    for path in sorted(EVAL_DIR.glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                for run in runs(row["text"]):
                    evaluation[run] = f"{path.name}:{row['id']}"
    copied = [(text[:60], evaluation[run]) for text, _ in read_examples(TRAIN_DIR) for run in runs(text)
              if run in evaluation]
    # Only where they are: the texts themselves stay out of the report, as they stay out of the repository.
    assert not copied, f"{len(copied)} training text(s) share 5 words with evaluation rows: " \
                       f"{sorted({where for _, where in copied})[:20]}"
