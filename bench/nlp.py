"""NLP benchmark: `analyse` throughput on one core, beside spaCy's bare textcat on the same texts.

Texts are the repository's own training examples (never the evaluation sets), repeated to N lines,
with a point on every third one so reverse geocoding is measured too. The process is pinned to one
core where the OS allows it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.analyse import analyse_lines  # noqa: E402
from nlp.classify import Classifier, normalise, read_examples  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20000, help="messages (default 20000)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    texts = [text for text, _ in read_examples()]
    texts = (texts * (args.n // len(texts) + 1))[:args.n]
    lines = [json.dumps({"text": t, **({"lat": -6.2 + (i % 50) * 0.002, "lon": 106.85} if i % 3 == 0 else {})})
             for i, t in enumerate(texts)]
    classifier = Classifier()
    list(analyse_lines(lines[:500], classifier))  # warm-up

    started = time.perf_counter()
    results = list(analyse_lines(lines, classifier))
    analyse_rate = len(lines) / (time.perf_counter() - started)

    started = time.perf_counter()
    for _ in classifier.nlp.pipe((normalise(t, classifier.vocabulary) for t in texts), batch_size=256):
        pass
    bare_rate = len(texts) / (time.perf_counter() - started)

    placed = sum(1 for r in results if r.get("kelurahan_kode"))
    print(f"one core ({os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else '?'}), {len(lines)} messages "
          f"(repository training texts; a point on every third)")
    print(f"crophub analyse (parse + classify + rules + text and reverse geocoding): {analyse_rate:,.0f} messages/s "
          f"({placed} placed at kelurahan level)")
    print(f"spaCy bare textcat (nlp.pipe, same model and texts):                      {bare_rate:,.0f} messages/s")
    print(f"ratio analyse / bare textcat: {analyse_rate / bare_rate:.2f}")


if __name__ == "__main__":
    main()
