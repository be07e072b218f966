"""`crophub analyse`: JSON Lines of reports in, one JSON line out per input (category and place)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from nlp.classify import Classifier
from nlp.geocode import reverse_place, text_place
from nlp.nominatim import NominatimFallback

MAX_TEXT = 10_000  # characters; a longer "report" is a paste or an attack, not a report
BATCH = 256


class LineError(ValueError):
    """A line that cannot be analysed, with the reason."""


@dataclass(frozen=True)
class Report:
    """One valid input line."""

    text: str
    lat: float | None
    lon: float | None


def parse_line(line: str) -> Report:
    """Validate one JSON line: {"text": ..., "lat": ..., "lon": ...} with lat/lon optional."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise LineError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise LineError(f"expected a JSON object, got {type(data).__name__}")
    text = data.get("text")
    if not isinstance(text, str):
        raise LineError('"text" is missing or not a string')
    if not text.strip():
        raise LineError('"text" is empty')
    if len(text) > MAX_TEXT:
        raise LineError(f'"text" is too long ({len(text)} characters; at most {MAX_TEXT})')
    lat, lon = data.get("lat"), data.get("lon")
    if (lat is None) != (lon is None):
        raise LineError('give both "lat" and "lon", or neither')
    if lat is None or lon is None:
        return Report(text, None, None)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (lat, lon)):
        raise LineError('"lat" and "lon" must be finite numbers')
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise LineError(f"coordinates out of range: lat {lat}, lon {lon}")
    return Report(text, float(lat), float(lon))


def analyse_report(report: Report, prediction: Any, fallback: NominatimFallback | None = None) -> dict[str, Any]:
    """The output object for one report and its category prediction."""
    named = text_place(report.text)
    if fallback is not None and report.lat is None:
        named = fallback.refine(report.text, named)
    place = reverse_place(report.lat, report.lon) if report.lat is not None and report.lon is not None else named
    out: dict[str, Any] = {
        "category": prediction.category, "confidence": round(prediction.confidence, 4),
        "needs_confirmation": prediction.needs_confirmation, "category_source": prediction.source,
    }
    if place is None:
        out.update({"place_text": None, "kelurahan_kode": None, "kelurahan": None, "kecamatan_kode": None,
                    "kecamatan": None, "kab_kota_kode": None, "kab_kota": None, "lat": None, "lon": None,
                    "geocode_source": None})
    else:
        out.update(place.fields())
        if named is not None and place is not named:
            out["place_text"] = named.place_text
    return out


def analyse_lines(lines: Iterable[str], classifier: Classifier,
                  fallback: NominatimFallback | None = None) -> Iterator[dict[str, Any]]:
    """One output object per input line, in order: the analysis, or {"line": n, "error": reason}."""
    batch: list[tuple[int, Report | LineError]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            batch.append((number, parse_line(line)))
        except LineError as exc:
            batch.append((number, exc))
        if len(batch) >= BATCH:
            yield from _flush(batch, classifier, fallback)
            batch = []
    yield from _flush(batch, classifier, fallback)


def _flush(batch: list[tuple[int, Report | LineError]], classifier: Classifier,
           fallback: NominatimFallback | None) -> Iterator[dict[str, Any]]:
    reports = [item for _, item in batch if isinstance(item, Report)]
    predictions = iter(classifier.predict([r.text for r in reports]))
    for number, item in batch:
        if isinstance(item, LineError):
            yield {"line": number, "error": str(item)}
        else:
            yield analyse_report(item, next(predictions), fallback)
