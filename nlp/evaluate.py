"""`crophub eval PATH`: measure the classifier (and, with --compare, another model beside it) and the geocoder
on the labelled CSVs in PATH (../shared/eval)."""
from __future__ import annotations

import csv
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from nlp.classify import Classifier, Prediction
from nlp.gazetteer import gazetteer
from nlp.geocode import reverse_place, text_place
from nlp.places import index

LEVELS = ("kelurahan_kode", "kecamatan_kode", "kab_kota_kode")
WATER = {"flood", "drainage"}


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def category_metrics(gold: list[str], predicted: list[str]) -> dict[str, Any]:
    """Per-class precision/recall/F1, macro-F1 over the classes present in gold, and the confusion matrix."""
    classes = sorted(set(gold))
    per: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[c] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return {"macro_f1": sum(v["f1"] for v in per.values()) / len(per), "per_class": per,
            "accuracy": sum(g == p for g, p in zip(gold, predicted)) / len(gold),
            "confusion": Counter(zip(gold, predicted))}


def geocode_metrics(rows: list[dict[str, str]], places: list[Any]) -> dict[str, Any]:
    """Hit rate per level on rows whose text names a place, and the share of predictions that are wrong."""
    out: dict[str, Any] = {}
    for level in LEVELS:
        labelled = [(r, p) for r, p in zip(rows, places) if r[level]]
        hits = sum(1 for r, p in labelled if p is not None and p.fields()[level] == r[level])
        out[level] = (hits, len(labelled))
    made = [(r, p) for r, p in zip(rows, places) if p is not None]
    wrong = [r for r, p in made if any(p.fields()[l] and r[l] and p.fields()[l] != r[l] for l in LEVELS)]
    unlabelled = [r for r, p in made if not any(r[l] for l in LEVELS)]
    out["predictions"], out["wrong"], out["unlabelled"] = len(made), len(wrong), len(unlabelled)
    return out


def classifier_figures(jaki: list[dict[str, str]], peta: list[dict[str, str]], classifier: Classifier) -> dict[str, Any]:
    """Category figures on the JAKI rows and the water figures on the PetaBencana rows for one model."""
    predictions: list[Prediction] = []
    texts = [r["text"] for r in jaki] + [r["text"] for r in peta]
    for i in range(0, len(texts), 256):
        predictions += classifier.predict(texts[i:i + 256])
    jp, pp = predictions[:len(jaki)], predictions[len(jaki):]
    gold = [r["category"] for r in jaki]
    cat = category_metrics(gold, [p.category for p in jp])
    kept = [(g, p) for g, p in zip(gold, jp) if not p.needs_confirmation]
    return {**cat, "predicted": [p.category for p in jp],
            "flagged": 1 - len(kept) / len(jp) if jp else 0.0,
            "unflagged_accuracy": sum(g == p.category for g, p in kept) / len(kept) if kept else 0.0,
            "water_recall": sum(p.category in WATER for p in pp) / len(pp) if pp else 0.0,
            # the harm the water guard exists to prevent: a flood filed elsewhere without asking
            "silent_water": sum(p.category not in WATER and not p.needs_confirmation for p in pp) / len(pp) if pp else 0.0,
            "threshold": getattr(classifier, "threshold", None), "water_mass": getattr(classifier, "water_mass", None)}


SUMMARY = (("macro_f1", "macro-F1 (jaki_dev)"), ("accuracy", "accuracy (jaki_dev)"),
           ("flagged", "share flagged for confirmation (jaki_dev)"),
           ("unflagged_accuracy", "accuracy of predictions not flagged (jaki_dev)"),
           ("water_recall", "water recall (petabencana_dev, flood or drainage)"),
           ("silent_water", "water reports silently filed elsewhere (petabencana_dev)"),
           ("threshold", "confidence threshold"), ("water_mass", "water guard: flood+drainage mass"))


def _write_category(w: Any, cat: dict[str, Any], n_jaki: int, n_peta: int) -> None:
    w(f"category (jaki_dev, {n_jaki} reports): macro-F1 {cat['macro_f1']:.3f}, accuracy {cat['accuracy']:.3f}\n")
    w(f"  {'class':16s} {'precision':>9s} {'recall':>7s} {'f1':>6s} {'n':>4s}\n")
    for c, v in cat["per_class"].items():
        w(f"  {c:16s} {v['precision']:9.2f} {v['recall']:7.2f} {v['f1']:6.2f} {v['support']:4d}\n")
    classes = sorted(set(cat["per_class"]) | set(cat["predicted"]))
    w("  confusion (rows gold, columns predicted):\n  " + " " * 16 + "".join(f"{c[:6]:>7s}" for c in classes) + "\n")
    for g in classes:
        if g in cat["per_class"]:
            w(f"  {g:16s}" + "".join(f"{cat['confusion'].get((g, p), 0):7d}" for p in classes) + "\n")
    w(f"confidence (jaki_dev): flagged for confirmation {cat['flagged']:.3f}; accuracy of those not flagged "
      f"{cat['unflagged_accuracy']:.3f} (threshold {cat['threshold']:.3f})\n")
    w(f"water-related recall (petabencana_dev, {n_peta} reports, flood or drainage): {cat['water_recall']:.3f}\n")
    w(f"water reports silently filed elsewhere (petabencana_dev; predicted non-water, not flagged): "
      f"{cat['silent_water']:.3f} (water guard at flood+drainage mass {cat['water_mass']:.3f})\n")


def run(folder: Path, classifier: Classifier, out: TextIO = sys.stdout,
        compare: Classifier | None = None) -> dict[str, Any]:
    """Evaluate on jaki_dev.csv and petabencana_dev.csv in `folder`; print a report; return the figures.
    With `compare`, the same figures for another model follow, side by side."""
    jaki, peta = _read(folder / "jaki_dev.csv"), _read(folder / "petabencana_dev.csv")
    texts = [r["text"] for r in jaki] + [r["text"] for r in peta]
    index(), gazetteer()  # built once per process; not part of the per-message rate
    started = time.perf_counter()
    with tqdm(total=3, desc="classify + geocode", unit="step", file=sys.stderr) as bar:
        cat = classifier_figures(jaki, peta, classifier)
        bar.update()
        jaki_places = [text_place(r["text"]) for r in jaki]
        peta_text_places = [text_place(r["text"]) for r in peta]
        bar.update()
        peta_points = [reverse_place(float(r["lat"]), float(r["lon"])) for r in peta]
        bar.update()
    seconds = time.perf_counter() - started
    geo = geocode_metrics(jaki, jaki_places)
    reverse_ok = sum((p.kelurahan.kode if p.kelurahan else "") == r["kelurahan_kode"] for r, p in zip(peta, peta_points))
    named = [(r, p) for r, p in zip(peta, peta_text_places) if p is not None]
    named_agree = sum(1 for r, p in named if not any(p.fields()[l] and r[l] and p.fields()[l] != r[l] for l in LEVELS))

    w = out.write
    _write_category(w, cat, len(jaki), len(peta))
    w("text geocoding (jaki_dev, rows whose text names the place):\n")
    for level in LEVELS:
        hits, total = geo[level]
        w(f"  {level.removesuffix('_kode'):10s} found {hits}/{total} = {hits / total if total else 0:.3f}\n")
    w(f"  wrong place: {geo['wrong']}/{geo['predictions']} predictions = "
      f"{geo['wrong'] / geo['predictions'] if geo['predictions'] else 0:.3f} "
      f"({geo['unlabelled']} more predictions on rows labelled with no place)\n")
    w(f"reverse geocoding (petabencana_dev points): kelurahan agreement {reverse_ok}/{len(peta)} = "
      f"{reverse_ok / len(peta):.3f}\n")
    w(f"text vs point (petabencana_dev, texts naming a place): agree {named_agree}/{len(named)}\n")
    w(f"throughput: {len(texts) / seconds:,.0f} messages/s (classify + text geocode + reverse geocode, "
      f"{len(texts)} messages, one process)\n")
    figures = {"macro_f1": cat["macro_f1"], "accuracy": cat["accuracy"], "water_recall": cat["water_recall"],
               "flagged": cat["flagged"], "unflagged_accuracy": cat["unflagged_accuracy"],
               "silent_water": cat["silent_water"], "geocode": geo, "reverse_agreement": reverse_ok / len(peta)}
    if compare is not None:
        other = classifier_figures(jaki, peta, compare)
        w("\ncompared on the same rows (this model | the other model):\n")
        for key, label in SUMMARY:
            a, b = cat[key], other[key]
            w(f"  {label:58s} {a:7.3f} | {b:7.3f}\n" if a is not None and b is not None else f"  {label:58s} {a} | {b}\n")
        figures["compare"] = {key: other[key] for key, _ in SUMMARY}
    return figures
