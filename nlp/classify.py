"""Category classifier: a spaCy textcat (bag of words + small CNN) trained from nlp/data/train, plus a phrase layer.

The model is built from the repository by `crophub train` (and by `make` when it is missing or
stale) into nlp/model/; it loads offline. Unambiguous phrases from the taxonomy ("parkir liar",
"pohon tumbang", "joki 3 in 1") decide the category through a spaCy PhraseMatcher; the model decides
the rest. Every prediction carries a confidence; below the threshold it needs the citizen's confirmation.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import random
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import spacy
from spacy.lang.id import Indonesian
from spacy.lang.punctuation import TOKENIZER_INFIXES, TOKENIZER_PREFIXES, TOKENIZER_SUFFIXES
from spacy.lang.tokenizer_exceptions import BASE_EXCEPTIONS
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.training import Example

from nlp.rules import DEFAULT_TAXONOMY, Taxonomy

log = logging.getLogger(__name__)

TRAIN_DIR = Path(__file__).parent / "data" / "train"
MODEL_DIR = Path(__file__).parent / "model"
TRAIN_VERSION = 5  # bump when the way we train changes, so `make` rebuilds the model
DEFAULT_THRESHOLD = 0.5
RULE_CONFIDENCE = 0.9  # a phrase match is this sure at least
ALTERNATIVES = 2  # categories offered beside the predicted one when the citizen is asked to confirm

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_REPEAT = re.compile(r"(\w)\1{2,}")  # "bangettt" → "banget"
_HASHTAG = re.compile(r"#(\w+)")
_WORD = re.compile(r"[a-z]+")
_SPACE = re.compile(r"\s+")
_PREFIXES = ("meng", "meny", "mem", "men", "me", "peng", "peny", "pem", "pen", "pe", "ber", "ter", "di", "ke", "se")
_SUFFIXES = ("nya", "lah", "kah", "kan", "an", "i")


@lru_cache(maxsize=1 << 16)  # words repeat across messages; stemming each again was 15% of `analyse`
def stem(word: str) -> str:
    """A light Indonesian stemmer: one suffix, then one prefix, kept only if 4+ letters remain."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    for prefix in _PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) >= 4:
            return word[len(prefix):]
    return word


def split_compound(word: str, vocabulary: frozenset[str]) -> list[str]:
    """Split a run-together hashtag ("drainaseburuk") into known words, or keep it whole."""
    best: list[list[str] | None] = [[]] + [None] * len(word)
    for end in range(1, len(word) + 1):
        for start in range(max(0, end - 20), end):
            piece = word[start:end]
            if best[start] is not None and (piece in vocabulary and len(piece) >= 3):
                candidate = best[start] + [piece]  # type: ignore[operator]
                if best[end] is None or len(candidate) < len(best[end]):  # type: ignore[arg-type]
                    best[end] = candidate
    return best[-1] or [word]


def normalise(text: str, vocabulary: frozenset[str] = frozenset()) -> str:
    """Lower-case; drop URLs and @handles; squash repeated letters and runs of spaces and line breaks;
    split hashtags into words; and append word stems, so "banjirnya", "kebanjiran" and "#banjir" share
    features with "banjir"."""
    text = _MENTION.sub(" ", _URL.sub(" ", text.lower()))
    # An app caption's line breaks and doubled spaces become whitespace tokens that the model would
    # read as words; they say how the citizen typed, not what about.
    text = _SPACE.sub(" ", text).strip()
    text = _REPEAT.sub(r"\1", text)
    text = _HASHTAG.sub(lambda m: " ".join(split_compound(m.group(1), vocabulary)), text)
    stems = [s for w in _WORD.findall(text) if (s := stem(w)) != w]
    return f"{text} | {' '.join(stems)}" if stems else text


def vocabulary_of(texts: Iterable[str]) -> frozenset[str]:
    """Words (3+ letters) of the training texts and their stems: what hashtags are split into."""
    words = {w for t in texts for w in _WORD.findall(t.lower()) if len(w) >= 3}
    return frozenset(words | {stem(w) for w in words})


@dataclass(frozen=True)
class Prediction:
    """A category with its confidence and how it was decided."""

    category: str
    confidence: float
    needs_confirmation: bool
    source: str  # "model" | "rule"
    alternatives: tuple[str, ...] = ()  # the next most likely reportable categories, best first


def training_fingerprint(train_dir: Path = TRAIN_DIR, taxonomy: Path = DEFAULT_TAXONOMY) -> str:
    """A hash of everything the model is built from; a model with another fingerprint is stale."""
    digest = hashlib.sha256(f"v{TRAIN_VERSION}".encode())
    for path in sorted(train_dir.glob("*.jsonl")) + [taxonomy]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def read_examples(train_dir: Path = TRAIN_DIR) -> list[tuple[str, str]]:
    """(text, category) pairs from every JSON Lines file in `train_dir`."""
    pairs = []
    for path in sorted(train_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row.get("text"), str) or not isinstance(row.get("category"), str):
                    raise ValueError(f"{path}:{number}: expected {{\"text\": str, \"category\": str}}")
                pairs.append((row["text"], row["category"]))
    return pairs


class _InformalDefaults(Indonesian.Defaults):
    # spaCy's Indonesian tokenizer exceptions are ~16,000 formal abbreviations; loading them takes
    # seconds per process and they do not help with chat text. Its extra punctuation rules (units,
    # currencies) made tokenizing 40% slower for no gain here. Everything else is Indonesian.
    tokenizer_exceptions = BASE_EXCEPTIONS
    prefixes = TOKENIZER_PREFIXES
    suffixes = TOKENIZER_SUFFIXES
    infixes = TOKENIZER_INFIXES


@spacy.registry.languages("id_informal")
class InformalIndonesian(Indonesian):
    """spaCy's Indonesian (stop words, punctuation, lexical attributes) without formal abbreviations."""

    lang = "id_informal"
    Defaults = _InformalDefaults


def blank_pipeline(labels: Iterable[str]) -> Language:
    """A blank Indonesian pipeline with an exclusive textcat (bag of words + small CNN; no vectors)."""
    # The CNN reads each word's normal form, first letter, last three letters and shape, so typos,
    # affixes and slang spellings share features; on the dev sets it lifted macro-F1 by about 0.05 over
    # bag-of-words alone. It is kept small (width 32, one layer) so `analyse` stays above 5,000 msg/s.
    nlp = spacy.blank("id_informal")
    textcat = nlp.add_pipe("textcat", config={"model": {
        "@architectures": "spacy.TextCatEnsemble.v2", "nO": None,
        "linear_model": {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": True, "ngram_size": 1,
                         "no_output_layer": False, "length": 262144},
        "tok2vec": {"@architectures": "spacy.Tok2Vec.v2",
                    "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 32, "rows": [2000, 1000, 1000, 500],
                              "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "include_static_vectors": False},
                    "encode": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 32, "window_size": 1,
                               "maxout_pieces": 2, "depth": 1}},
    }})
    for label in labels:
        textcat.add_label(label)  # type: ignore[attr-defined]
    return nlp


def train(out_dir: Path = MODEL_DIR, train_dir: Path = TRAIN_DIR, taxonomy_path: Path = DEFAULT_TAXONOMY,
          epochs: int = 10, seed: int = 0) -> dict[str, object]:
    """Train, seeded and repeatable, and save the model with its fingerprint; returns its meta."""
    started = time.perf_counter()
    spacy.util.fix_random_seed(seed)
    rng = random.Random(seed)
    taxonomy = Taxonomy.load(taxonomy_path)
    pairs = read_examples(train_dir)
    unknown = sorted({c for _, c in pairs} - set(taxonomy.categories))
    if unknown:
        raise ValueError(f"training data uses categories not in the taxonomy: {unknown}")
    labels = list(taxonomy.categories)
    nlp = blank_pipeline(labels)
    vocabulary = vocabulary_of(t for t, _ in pairs)
    examples = [Example.from_dict(nlp.make_doc(normalise(text, vocabulary)),
                                  {"cats": {l: float(l == cat) for l in labels}}) for text, cat in pairs]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in spacy.util.minibatch(examples, size=16):
            nlp.update(batch, sgd=optimizer, drop=0.2)
    out_dir.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(out_dir)
    (out_dir / "vocabulary.txt").write_text("\n".join(sorted(vocabulary)), encoding="utf-8")
    meta = {"fingerprint": training_fingerprint(train_dir, taxonomy_path), "examples": len(pairs),
            "labels": labels, "epochs": epochs, "seed": seed, "seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "crophub.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return meta


def is_current(model_dir: Path = MODEL_DIR, taxonomy: Path = DEFAULT_TAXONOMY) -> bool:
    """True when a model exists and was built from the data (and taxonomy) as they are now."""
    meta = model_dir / "crophub.json"
    if not meta.exists():
        return False
    fingerprint = json.loads(meta.read_text(encoding="utf-8")).get("fingerprint")
    return fingerprint == training_fingerprint(taxonomy=taxonomy)


def ensure_model(taxonomy: Path = DEFAULT_TAXONOMY, model_dir: Path = MODEL_DIR) -> bool:
    """Train unless a current model exists; processes starting together train it once. True if trained."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(model_dir.parent / f".{model_dir.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_current(model_dir, taxonomy):
            return False
        log.warning("nlp: classifier model missing or stale; training it now (`crophub train`)")
        train(model_dir, taxonomy_path=taxonomy)
        return True


class Classifier:
    """Loads the trained model and the taxonomy's phrase rules; predicts in batches."""

    def __init__(self, model_dir: Path = MODEL_DIR, taxonomy: Taxonomy | None = None,
                 threshold: float = DEFAULT_THRESHOLD) -> None:
        if not (model_dir / "crophub.json").exists():
            raise FileNotFoundError(f"no trained model in {model_dir}: run `crophub train` (or `make`)")
        self.nlp = spacy.load(model_dir)
        self.vocabulary = frozenset((model_dir / "vocabulary.txt").read_text(encoding="utf-8").split())
        self.taxonomy = taxonomy or Taxonomy.load()
        self.threshold = threshold
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        for name, category in self.taxonomy.categories.items():
            if category.keywords:
                self.matcher.add(name, [self.nlp.make_doc(phrase) for phrase in category.keywords])
        self._rank = {name: i for i, name in enumerate(self.taxonomy.categories)}

    def predict(self, texts: list[str], batch_size: int = 256) -> list[Prediction]:
        """One prediction per text, through nlp.pipe in batches (empty texts: not_report, confidence 0)."""
        normalised = [normalise(t, self.vocabulary) for t in texts]
        # A text with no words (empty, only a URL or emoji spacing) gives the bag-of-words model nothing to read.
        docs = iter(self.nlp.pipe((t for t in normalised if t.strip()), batch_size=batch_size))
        return [self._decide(next(docs)) if t.strip() else Prediction("not_report", 0.0, True, "model")
                for t in normalised]

    def _decide(self, doc: spacy.tokens.Doc) -> Prediction:
        scores = doc.cats
        best = max(scores, key=scores.__getitem__)
        ranked = sorted((c for c in scores if c != "not_report"), key=scores.__getitem__, reverse=True)
        matches = self.matcher(doc)
        if matches:
            # The earliest category in the taxonomy wins among phrases (its order is the precedence).
            rule = min((self.nlp.vocab.strings[m_id] for m_id, _, _ in matches), key=self._rank.__getitem__)
            confidence = max(RULE_CONFIDENCE, scores.get(rule, 0.0))
            return Prediction(rule, confidence, confidence < self.threshold, "rule",
                              tuple(c for c in ranked if c != rule)[:ALTERNATIVES])
        confidence = float(scores[best])
        return Prediction(best, confidence, confidence < self.threshold, "model",
                          tuple(c for c in ranked if c != best)[:ALTERNATIVES])
