"""NLP benchmark: `analyse` throughput on one core, beside the bare classifier on the same texts, and
(with --against) the same benchmark of another checkout, e.g. the spaCy model before issue 17.

Texts are the repository's own training examples (never the evaluation sets), repeated to N lines,
with a point on every third one so reverse geocoding is measured too. The process is pinned to one
core where the OS allows it.

    git worktree add --detach /tmp/crophub-before <commit before the change>
    .venv/bin/python bench/nlp.py --against /tmp/crophub-before
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp.analyse import analyse_lines  # noqa: E402
from nlp.classify import Classifier, normalise, read_examples  # noqa: E402

TARGET = 3000  # messages/s for `analyse` on one core (issue 17)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20000, help="messages (default 20000)")
    parser.add_argument("--against", metavar="DIR", help="another checkout (its own model built) to run beside")
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
    for i in range(0, len(texts), 256):
        classifier.probabilities([normalise(t, classifier.vocabulary) for t in texts[i:i + 256]])
    bare_rate = len(texts) / (time.perf_counter() - started)

    placed = sum(1 for r in results if r.get("kelurahan_kode"))
    print(f"one core ({os.sched_getaffinity(0) if hasattr(os, 'sched_getaffinity') else '?'}), {len(lines)} messages "
          f"(repository training texts; a point on every third)")
    print(f"crophub analyse (parse + classify + rules + text and reverse geocoding): {analyse_rate:,.0f} messages/s "
          f"({placed} placed at kelurahan level; target {TARGET:,})")
    print(f"bare classifier (normalise + n-gram features + logistic regression):   {bare_rate:,.0f} messages/s")
    print(f"ratio analyse / bare classifier: {analyse_rate / bare_rate:.2f}")
    if args.against:
        # The other checkout runs its own bench script with its own code and model, after this one.
        other = Path(args.against)
        done = subprocess.run([sys.executable, str(other / "bench" / "nlp.py"), "-n", str(args.n)], cwd=other,
                              capture_output=True, text=True, check=True)
        print(f"\n{other} (its own code, model and training texts, same count):")
        print("".join(f"  {line}\n" for line in done.stdout.splitlines()), end="")


if __name__ == "__main__":
    main()
