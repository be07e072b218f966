"""Waze for Cities feed snapshot (JSON) → `WazeReport`s, counted unmapped kinds and rejected items. Pure: no I/O."""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ingest.intake import Skipped, payload_key
from store.storable import clean_text

CHANNEL = "waze"

# Waze kind (an alert's subtype, else its type) → our category. Looked up subtype first, then type, so a
# type key covers all its subtypes. Anything absent is counted in FeedResult.unmapped and ignored.
DEFAULT_KINDS: dict[str, str] = {
    "HAZARD_WEATHER_FLOOD": "flood",
    "HAZARD_ON_ROAD_POT_HOLE": "road_damage",
    "HAZARD_ON_ROAD_TRAFFIC_LIGHT_FAULT": "traffic",  # broken traffic lights are "traffic" in our taxonomy
    # Every ROAD_CLOSED_* (EVENT, CONSTRUCTION, HAZARD): in Jakarta a street closed for a hajatan or market
    # is a standing Dishub complaint, and an unannounced closure is worth an officer's look.
    "ROAD_CLOSED": "traffic",
    "JAM_HEAVY_TRAFFIC": "traffic",
    "JAM_STAND_STILL_TRAFFIC": "traffic",
    # Debris, a fallen branch, a dropped load: a real obstruction to clear, but Waze does not say what, so
    # not "tree"; the description (if any) lets a later step refine it.
    "HAZARD_ON_ROAD_OBJECT": "other",
    # Deliberately absent: ACCIDENT (an emergency for police/ambulance via 112, cleared within the hour;
    # its traffic effect arrives as a jam), HAZARD_ON_ROAD_CONSTRUCTION (planned works, not a complaint),
    # weather other than flood (rain is not fixable), cars stopped on road/shoulder (breakdowns, not
    # parkir liar), JAM_LIGHT/MODERATE_TRAFFIC (ordinary Jakarta traffic).
}
DEFAULT_MIN_JAM_LEVEL = 4  # Waze jam level 0 free flow … 3 heavy, 4 bumper-to-bumper, 5 standstill/blocked
JAM_CATEGORY = "traffic"
CORROBORATION_MAX = 25  # reliability 10 + confidence 10 + capped thumbs-up 5
# A lone fresh report (reliability 5–7, no reactions yet) stays under it; two or three drivers confirming lift it over.
DEFAULT_MIN_CORROBORATION = 12

# Longest uuid kept. Waze uuids are 36-character UUIDs (alerts) or ~10-digit ids (jams); a longer one comes from a
# broken or hostile producer, so it is rejected rather than hashed: a key stays the uuid officers and logs can
# match to the feed, and "jam:" + uuid + "@<version>" (later messages) fits the 255-character key columns.
MAX_UUID_CHARS = 128
# Deepest an alert or jam may nest (a real one: alert → comments → comment, 3). Deeper input is rejected here,
# so that nothing that walks a kept payload later (its key, the intake's cleaning) recurses past Python's limit.
MAX_ITEM_DEPTH = 32
_SHOWN_UUID = 48  # characters of a rejected item's uuid quoted in its reason

# Older feeds carry weather alerts as type WEATHERHAZARD; the subtypes are the same HAZARD_WEATHER_*.
_TYPE_ALIASES = {"WEATHERHAZARD": "HAZARD"}


class FeedError(ValueError):
    """The whole feed body is unusable (not JSON, not an object, alerts/jams not lists)."""


@dataclass(frozen=True)
class WazeReport:
    """One alert or jam from a feed snapshot, normalised."""

    uuid: str
    kind: Literal["alert", "jam"]
    type: str  # normalised: WEATHERHAZARD → HAZARD; jams are "JAM"
    subtype: str  # as sent ("" when empty); jams ""
    category: str | None  # our category, None when the kind is unmapped
    lat: float
    lon: float  # alert: its location; jam: the point halfway along its line
    street: str = ""
    city: str = ""
    description: str = ""  # reportDescription, free text from the reporter
    reliability: int = 0
    confidence: int = 0
    thumbs_up: int = 0
    level: int | None = None  # jams only, 0–5
    delay_s: int | None = None  # jams only; Waze's -1 (unknown, or blocked) becomes None
    length_m: int | None = None  # jams only
    line_start: tuple[float, float] | None = None  # jams: first point of the line, (lat, lon)
    line_end: tuple[float, float] | None = None  # jams: last point of the line, (lat, lon)
    published_at: datetime | None = None  # from pubMillis, UTC
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Idempotency key: the alert uuid as is; jam uuids live in another namespace, so prefixed."""
        return self.uuid if self.kind == "alert" else f"jam:{self.uuid}"

    @property
    def kind_key(self) -> str:
        """The most specific name of what this is: subtype, else type; jams as JAM_LEVEL_<n>."""
        if self.kind == "jam":
            return f"JAM_LEVEL_{self.level}"
        return self.subtype or self.type


@dataclass
class FeedResult:
    """What one feed snapshot held: reports (mapped or not), unmapped kind counts, rejected items."""

    reports: list[WazeReport] = field(default_factory=list)
    unmapped: Counter[str] = field(default_factory=Counter)
    rejected: list[Skipped] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # keys seen twice in this snapshot; first kept
    end_time: datetime | None = None  # endTimeMillis: the snapshot's "as of"
    # The key of every item with a uuid, mapped or not, well-formed or not: what the feed still shows (an
    # alert rejected once, or a jam eased below the minimum level, has not left it).
    present: set[str] = field(default_factory=set)

    @property
    def mapped(self) -> list[WazeReport]:
        """The reports that have one of our categories: the ones to hand to the intake."""
        return [r for r in self.reports if r.category is not None]


def parse_feed(body: bytes | str | dict[str, Any], kinds: dict[str, str] = DEFAULT_KINDS,
               min_jam_level: int = DEFAULT_MIN_JAM_LEVEL) -> FeedResult:
    """Parse one feed snapshot; raise FeedError when the body as a whole is malformed."""
    feed = _load(body)
    result = FeedResult(end_time=_millis(feed.get("endTimeMillis")))
    seen: set[str] = set()
    for name in ("alerts", "jams"):
        items = feed.get(name, [])
        if items is None:  # some exporters write null for an empty list
            items = []
        if not isinstance(items, list):
            raise FeedError(f"{name} is a {type(items).__name__}, not a list")
        for raw in items:
            uuid = _uuid(raw) if isinstance(raw, dict) else None
            if uuid is not None:
                result.present.add(uuid if name == "alerts" else f"jam:{uuid}")
            parsed = _item(name, raw, kinds, min_jam_level)
            if isinstance(parsed, Skipped):
                result.rejected.append(parsed)
                continue
            if parsed.key in seen:
                result.duplicates.append(parsed.key)
                continue
            seen.add(parsed.key)
            result.reports.append(parsed)
            if parsed.category is None:
                result.unmapped[parsed.kind_key] += 1
    return result


def corroboration(report: WazeReport) -> int:
    """How far other drivers back a report up, 0–CORROBORATION_MAX (jams are measured: always the max)."""
    if report.kind == "jam":
        return CORROBORATION_MAX
    # reliability (Waze's trust in the reporter and reactions, 0–10) + confidence (reactions, 0–10; 5+ is
    # "high") + thumbs-up capped at 5, so a viral alert cannot stand in for Waze's own judgement.
    return _clamp(report.reliability) + _clamp(report.confidence) + min(max(report.thumbs_up, 0), 5)


def is_corroborated(report: WazeReport, minimum: int) -> bool:
    """Whether the report's corroboration score reaches `minimum`."""
    return corroboration(report) >= minimum


# --- items ---------------------------------------------------------------------------------------------

def _load(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FeedError(f"feed is not UTF-8 text: {exc}") from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise FeedError(f"feed is not JSON: {exc}") from None
        except RecursionError:  # json's C decoder gives up near Python's recursion limit (~1,000 levels)
            raise FeedError("feed is nested too deeply to read") from None
    if not isinstance(body, dict):
        raise FeedError(f"feed is a {type(body).__name__}, not a JSON object")
    return body


def _item(name: str, raw: Any, kinds: dict[str, str], min_jam_level: int) -> WazeReport | Skipped:
    """One alert or jam, or why not. Its raw payload is kept as sent: the intake makes it storable (NaN, NUL)
    and keeps the original beside it; what this module reads from it is cleaned here (_str)."""
    what = "alert" if name == "alerts" else "jam"
    if _deeper_than(raw, MAX_ITEM_DEPTH):
        uuid = _uuid(raw) if isinstance(raw, dict) else None
        shallow = {k: v for k, v in raw.items() if not isinstance(v, (dict, list))} if isinstance(raw, dict) else {}
        return _reject({**shallow, "cut": f"nested deeper than {MAX_ITEM_DEPTH} levels"},
                       f"{what} is nested deeper than {MAX_ITEM_DEPTH} levels", uuid)
    return _alert(raw, kinds) if what == "alert" else _jam(raw, min_jam_level)


def _alert(raw: Any, kinds: dict[str, str]) -> WazeReport | Skipped:
    if not isinstance(raw, dict):
        return _reject(raw, f"alert is a {type(raw).__name__}, not a JSON object")
    uuid = _uuid(raw)
    if uuid is None:
        return _reject(raw, "alert has no uuid")
    if problem := _unkeyable(uuid):
        return _reject(raw, f"alert {problem}", uuid)
    loc = raw.get("location")
    if not isinstance(loc, dict):
        return _reject(raw, "alert has no location", uuid)
    point = _point(loc)
    if isinstance(point, str):
        return _reject(raw, f"alert location: {point}", uuid)
    type_ = _str(raw.get("type")).upper()
    type_ = _TYPE_ALIASES.get(type_, type_)
    subtype = _str(raw.get("subtype")).upper()
    if not type_ and not subtype:
        return _reject(raw, "alert has neither type nor subtype", uuid)
    category = kinds.get(subtype) if subtype else None
    if category is None:
        category = kinds.get(type_)
    return WazeReport(
        uuid=uuid, kind="alert", type=type_, subtype=subtype, category=category, lat=point[0], lon=point[1],
        street=_str(raw.get("street")), city=_str(raw.get("city")), description=_str(raw.get("reportDescription")),
        reliability=_int(raw.get("reliability")) or 0, confidence=_int(raw.get("confidence")) or 0,
        thumbs_up=_int(raw.get("nThumbsUp")) or 0, published_at=_millis(raw.get("pubMillis")), raw=raw,
    )


def _jam(raw: Any, min_level: int) -> WazeReport | Skipped:
    if not isinstance(raw, dict):
        return _reject(raw, f"jam is a {type(raw).__name__}, not a JSON object")
    uuid = _uuid(raw)
    if uuid is None:
        return _reject(raw, "jam has no uuid")
    if problem := _unkeyable(uuid):
        return _reject(raw, f"jam {problem}", uuid)
    line = raw.get("line")
    if not isinstance(line, list) or not line:
        return _reject(raw, "jam has no line", uuid)
    points: list[tuple[float, float]] = []
    for i, p in enumerate(line):
        point = _point(p) if isinstance(p, dict) else "not an {x, y} object"
        if isinstance(point, str):
            return _reject(raw, f"jam line point {i}: {point}", uuid)
        points.append(point)
    level = _int(raw.get("level"))
    if level is None or not 0 <= level <= 5:
        return _reject(raw, "jam level is missing or not 0–5", uuid)
    lat, lon = _halfway(points)
    delay = _int(raw.get("delay"))
    return WazeReport(
        uuid=uuid, kind="jam", type="JAM", subtype="", category=JAM_CATEGORY if level >= min_level else None,
        lat=lat, lon=lon, street=_str(raw.get("street")), city=_str(raw.get("city")), level=level,
        delay_s=delay if delay is not None and delay >= 0 else None, length_m=_int(raw.get("length")),
        line_start=points[0], line_end=points[-1], published_at=_millis(raw.get("pubMillis")), raw=raw,
    )


def _reject(raw: Any, reason: str, uuid: str | None = None) -> Skipped:
    # Keyed by content, never by uuid: a rejected item stored under its uuid would make the intake treat the
    # same alert, well-formed in the next poll, as a replay.
    return Skipped(CHANNEL, payload_key(raw), "rejected", f"{reason} (uuid {_shown(uuid)})" if uuid else reason, raw)


# --- values --------------------------------------------------------------------------------------------

def _uuid(raw: dict[str, Any]) -> str | None:
    # Alert uuids are strings; jam uuids in both sample feeds are integers.
    value = raw.get("uuid")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return str(value).strip() or None


def _unkeyable(uuid: str) -> str | None:
    """Why a uuid cannot be a key (too long for the key columns, or holding characters no database stores)."""
    if len(uuid) > MAX_UUID_CHARS:
        return f"uuid is longer than {MAX_UUID_CHARS} characters"
    if not uuid.isprintable():  # NUL, control characters, lone surrogates
        return "uuid holds unprintable characters"
    return None


def _shown(uuid: str) -> str:
    """A uuid as a reason may quote it: printable, and cut."""
    text = "".join(c if c.isprintable() else "?" for c in uuid[:_SHOWN_UUID])
    return text + ("…" if len(uuid) > _SHOWN_UUID else "")


def _point(loc: dict[str, Any]) -> tuple[float, float] | str:
    """(lat, lon) from Waze's {x: lon, y: lat}, or why not."""
    x, y = loc.get("x"), loc.get("y")
    if x is None or y is None:
        return "missing x or y"
    # Strings are refused even when numeric: the real feeds send numbers, so a string means a broken producer.
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (x, y)):
        return "non-numeric coordinates"
    lon, lat = float(x), float(y)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return f"coordinates out of range ({lat}, {lon})"
    if lat == 0 and lon == 0:  # "null island": an unset location, not a place
        return "coordinates are (0, 0)"
    return lat, lon


def _halfway(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The point half the line's length along it (flat-earth distances: jams are a few km at most)."""
    if len(points) == 1:
        return points[0]
    scale = math.cos(math.radians(points[0][0]))
    seg = [math.hypot(b[0] - a[0], (b[1] - a[1]) * scale) for a, b in zip(points, points[1:])]
    remaining = sum(seg) / 2
    for (a, b), length in zip(zip(points, points[1:]), seg):
        if length >= remaining and length > 0:
            t = remaining / length
            return round(a[0] + (b[0] - a[0]) * t, 6), round(a[1] + (b[1] - a[1]) * t, 6)
        remaining -= length
    return points[-1]  # a line of identical points


def _str(value: Any) -> str:
    # Cleaned: these strings go to waze_alerts and tickets, which no intake cleaning reaches (PostgreSQL's text
    # refuses NUL; a lone surrogate is not UTF-8).
    return clean_text(value).strip() if isinstance(value, str) else ""


def _deeper_than(value: Any, limit: int, depth: int = 1) -> bool:
    """Whether a decoded JSON value nests more than `limit` levels (recursing at most `limit` deep)."""
    if not isinstance(value, (dict, list)):
        return False
    if depth > limit:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(child, limit, depth + 1) for child in children if isinstance(child, (dict, list)))


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)


def _clamp(value: int) -> int:
    return min(max(value, 0), 10)


def _millis(value: Any) -> datetime | None:
    ms = _int(value)
    if ms is None or ms <= 0:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
