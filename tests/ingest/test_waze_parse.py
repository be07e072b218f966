"""One test per Waze fixture: what parse_feed makes of each feed snapshot."""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from ingest.intake import Skipped
from ingest.waze.parse import (
    CORROBORATION_MAX, DEFAULT_KINDS, DEFAULT_MIN_CORROBORATION, FeedError, FeedResult, WazeReport,
    corroboration, is_corroborated, parse_feed,
)
from tests.conftest import FIXTURES, fixture

WAZE = FIXTURES / "waze"
FLOOD = "3f6a2c1e-8b4d-4f0a-9c7e-1d2b3a4c5e01"
OLD_FLOOD = "7c1d9e2f-4a3b-4c5d-8e6f-0a1b2c3d4e02"
POTHOLE = "b2e4f6a8-1c3d-4e5f-a7b9-c1d3e5f7a903"
CLOSED = "d4c3b2a1-9f8e-4d7c-b6a5-f4e3d2c1b004"


def parse(name: str) -> FeedResult:
    # As bytes, the way the poller will hand the HTTP body over.
    return parse_feed((WAZE / f"{name}.json").read_bytes())


def by_uuid(result: FeedResult) -> dict[str, WazeReport]:
    return {r.uuid: r for r in result.reports}


def test_alerts_flood_and_pothole() -> None:
    result = parse("alerts_flood_and_pothole")
    assert result.rejected == [] and result.duplicates == []
    assert result.end_time == datetime(2025, 11, 24, 0, 51, tzinfo=timezone.utc)
    reports = by_uuid(result)
    assert len(reports) == 7

    flood = reports[FLOOD]
    assert (flood.kind, flood.type, flood.subtype) == ("alert", "HAZARD", "HAZARD_WEATHER_FLOOD")
    assert flood.category == "flood"
    assert (flood.lat, flood.lon) == (-6.224503, 106.866012)  # location.y, location.x
    assert flood.street == "Jl. Jatinegara Barat" and flood.city == "Jakarta Timur"
    assert flood.description == "Banjir sebetis depan Pasar Kampung Melayu"
    assert (flood.reliability, flood.confidence, flood.thumbs_up) == (7, 2, 2)
    assert flood.published_at == datetime(2025, 11, 24, 0, 12, tzinfo=timezone.utc)
    assert flood.level is None and flood.line_start is None and flood.key == FLOOD
    assert flood.raw["wazeData"].endswith(FLOOD)

    old = reports[OLD_FLOOD]  # the older WEATHERHAZARD type is read as HAZARD
    assert (old.type, old.subtype, old.category) == ("HAZARD", "HAZARD_WEATHER_FLOOD", "flood")
    assert old.street == "Jl. Pahlawan Revolusi" and old.description == ""

    assert reports[POTHOLE].category == "road_damage" and reports[POTHOLE].street == "Jl. D.I. Panjaitan"
    closed = reports[CLOSED]  # "ROAD_CLOSED" (the type) covers ROAD_CLOSED_EVENT
    assert (closed.type, closed.subtype, closed.category) == ("ROAD_CLOSED", "ROAD_CLOSED_EVENT", "traffic")

    # Accidents, stopped cars and a HAZARD with no subtype are counted and ignored, not rejected.
    assert result.unmapped == Counter({"ACCIDENT_MINOR": 1, "HAZARD_ON_SHOULDER_CAR_STOPPED": 1, "HAZARD": 1})
    blank = next(r for r in result.reports if r.street == "Jl. Raya Kalimalang")
    assert (blank.type, blank.subtype, blank.category) == ("HAZARD", "", None)
    assert {r.uuid for r in result.mapped} == {FLOOD, OLD_FLOOD, POTHOLE, CLOSED}


def test_jams() -> None:
    result = parse("jams")  # a CCP-style file: no "alerts" key at all
    assert result.rejected == [] and len(result.reports) == 2
    light, blocked = sorted(result.reports, key=lambda r: r.level or 0)
    assert (light.kind, light.type, light.subtype, light.level, light.category) == ("jam", "JAM", "", 2, None)
    assert (light.delay_s, light.length_m) == (94, 912)
    assert light.line_start == (-6.23851, 106.872941) and light.line_end == (-6.230441, 106.875302)
    # Halfway along the line, not its middle vertex nor the average of its ends.
    assert (light.lat, light.lon) == pytest.approx((-6.23447, 106.8741), abs=1e-4)
    assert blocked.level == 5 and blocked.category == "traffic" and blocked.street == "Jl. Casablanca Raya"
    assert blocked.delay_s is None  # Waze's -1 on a blocked road
    assert blocked.uuid == "1187654317" and blocked.key == "jam:1187654317"
    assert result.unmapped == Counter({"JAM_LEVEL_2": 1})
    assert corroboration(blocked) == CORROBORATION_MAX  # measured by Waze, not reported
    # The jam threshold is a parameter: level 2 counts once the minimum is lowered.
    assert {r.level for r in parse_feed(fixture("waze", "jams"), min_jam_level=2).mapped} == {2, 5}


def test_empty() -> None:
    result = parse("empty")
    assert result.reports == [] and result.rejected == [] and result.unmapped == Counter()
    assert result.end_time == datetime(2025, 11, 24, 1, 11, tzinfo=timezone.utc)


@pytest.mark.parametrize("body", [{}, "{}", b'{"alerts": [], "jams": []}', {"alerts": None, "users": []}])
def test_other_empty_feeds_are_valid(body: Any) -> None:
    assert parse_feed(body).reports == []


def test_malformed_not_json() -> None:
    body = (WAZE / "malformed_not_json.txt").read_bytes()
    with pytest.raises(FeedError, match="feed is not JSON"):
        parse_feed(body)


@pytest.mark.parametrize("body, reason", [
    (b"[]", "feed is a list, not a JSON object"),
    (b"\xff\xfe", "feed is not UTF-8"),
    ({"alerts": {"uuid": "x"}}, "alerts is a dict, not a list"),
    ({"alerts": [], "jams": "none"}, "jams is a str, not a list"),
])
def test_a_malformed_body_is_a_feed_error(body: Any, reason: str) -> None:
    with pytest.raises(FeedError, match=reason):
        parse_feed(body)


def test_malformed_items() -> None:
    result = parse("malformed_items")
    # The good alert survives its broken neighbours.
    assert [r.street for r in result.reports] == ["Jl. Matraman Raya"]
    assert [s.reason for s in result.rejected] == [
        "alert has no uuid",
        "alert has no location (uuid 1c2d3e4f-5a6b-4c7d-9e8f-0a1b2c3d4e10)",
        "alert location: non-numeric coordinates (uuid 2d3e4f5a-6b7c-4d8e-af90-1b2c3d4e5f11)",
    ]
    for skip in result.rejected:
        assert isinstance(skip, Skipped) and (skip.channel, skip.status) == ("waze", "rejected")
        # Keyed by content so that the same uuid, well-formed next poll, is not taken for a replay.
        assert skip.key.startswith("sha256:") and isinstance(skip.raw, dict)
    assert [s.key for s in parse("malformed_items").rejected] == [s.key for s in result.rejected]


@pytest.mark.parametrize("location, reason", [
    ({"x": 106.86, "y": -96.2}, "coordinates out of range"),
    ({"x": 286.86, "y": -6.2}, "coordinates out of range"),
    ({"x": 0, "y": 0}, "coordinates are (0, 0)"),
    ({"x": 106.86}, "missing x or y"),
    ({"x": True, "y": -6.2}, "non-numeric coordinates"),
])
def test_unusable_locations_are_rejected(location: dict[str, Any], reason: str) -> None:
    alert = {**fixture("waze", "alerts_flood_and_pothole")["alerts"][0], "location": location}
    result = parse_feed({"alerts": [alert]})
    assert result.reports == [] and reason in result.rejected[0].reason


def test_broken_jams_are_rejected() -> None:
    jam = fixture("waze", "jams")["jams"][0]
    bad = [{**jam, "line": []}, {**jam, "line": [{"x": 106.87, "y": "-6.23"}]}, {**jam, "level": 9},
           {k: v for k, v in jam.items() if k != "uuid"}]
    reasons = [s.reason for s in parse_feed({"jams": bad}).rejected]
    assert reasons == ["jam has no line (uuid 1187654302)",
                       "jam line point 0: non-numeric coordinates (uuid 1187654302)",
                       "jam level is missing or not 0–5 (uuid 1187654302)", "jam has no uuid"]


def test_late_flood() -> None:
    # The same minute's snapshot as alerts_flood_and_pothole republished with one flood more (Waze does this).
    result = parse("late_flood")
    assert result.end_time == parse("alerts_flood_and_pothole").end_time
    [flood] = result.mapped
    assert (flood.category, flood.street, corroboration(flood)) == ("flood", "Jl. Kemang Raya", 8 + 5 + 3)


def test_hostile_alerts() -> None:
    result = parse("hostile_alerts")
    # The NUL in the street is stripped and the lone surrogate in the description replaced: text PostgreSQL stores.
    [dewi] = result.reports
    assert (dewi.street, dewi.category) == ("Jl. Dewi Sartika", "flood")
    assert dewi.description == "Banjir selutut \ufffd depan PGC"
    # The raw payload stays as sent: the intake stores it made storable, beside the original as text.
    assert dewi.raw["street"] == "Jl. Dewi\x00 Sartika" and math.isnan(dewi.raw["magvar"])
    reasons = [s.reason for s in result.rejected]
    assert reasons[0].startswith("alert location: coordinates out of range (-6.230012, nan)")
    assert reasons[1].startswith("alert location: coordinates out of range (inf, 106.870251)")  # 1e400
    # A uuid past the key column (and the "@<version>" of its later messages) is no Waze uuid: rejected.
    assert reasons[2].startswith("alert uuid is longer than 128 characters (uuid a1b2c3d4-0000-4e5f-8a9b-0c1d")
    assert len(reasons[2]) < 200


@pytest.mark.parametrize("uuid", ["abc\x00def", "abc\ud800", "x" * 129])
def test_a_uuid_no_key_column_can_hold_is_rejected(uuid: str) -> None:
    alert = {**fixture("waze", "alerts_flood_and_pothole")["alerts"][0], "uuid": uuid}
    jam = {**fixture("waze", "jams")["jams"][1], "uuid": uuid}
    result = parse_feed({"alerts": [alert], "jams": [jam]})
    assert result.reports == [] and len(result.rejected) == 2
    assert all("\x00" not in s.reason and "\ud800" not in s.reason for s in result.rejected)


def test_a_feed_nested_5000_levels_deep_is_malformed() -> None:
    body = '{"alerts": [' + "[" * 5000 + "]" * 5000 + "]}"
    with pytest.raises(FeedError, match="nested too deeply"):
        parse_feed(body.encode())


def test_an_alert_nested_too_deeply_is_rejected_alone() -> None:
    feed = fixture("waze", "alerts_flood_and_pothole")
    deep: Any = []
    for _ in range(300):  # readable by json, but no alert is like this and later walks of it would recurse
        deep = [deep]
    next(a for a in feed["alerts"] if a["uuid"] == POTHOLE)["comments"] = deep
    result = parse_feed(json.dumps(feed).encode())
    [skipped] = result.rejected
    assert skipped.reason == f"alert is nested deeper than 32 levels (uuid {POTHOLE})"
    assert POTHOLE not in by_uuid(result) and len(result.reports) == 6
    assert len(json.dumps(skipped.raw)) < 12_000


def test_second_poll() -> None:
    first, second = by_uuid(parse("alerts_flood_and_pothole")), by_uuid(parse("second_poll"))
    assert POTHOLE not in second  # fixed or expired: simply absent
    before, after = first[FLOOD], second[FLOOD]  # uuid stable across polls: the dedupe key
    assert after.key == before.key and (after.lat, after.lon) == (before.lat, before.lon)
    assert after.thumbs_up == 9 > before.thumbs_up
    # Corroboration grew past the default threshold as drivers confirmed the flood.
    assert corroboration(before) == 7 + 2 + 2 and not is_corroborated(before, DEFAULT_MIN_CORROBORATION)
    assert corroboration(after) == 9 + 5 + 5 and is_corroborated(after, DEFAULT_MIN_CORROBORATION)
    assert not is_corroborated(second[OLD_FLOOD], DEFAULT_MIN_CORROBORATION)  # a lone report, no reactions


def test_duplicate_uuids_keep_the_first() -> None:
    alerts = fixture("waze", "second_poll")["alerts"]
    later = {**alerts[0], "nThumbsUp": 40}
    result = parse_feed({"alerts": [alerts[0], later, *alerts[1:]]})
    assert result.duplicates == [FLOOD] and by_uuid(result)[FLOOD].thumbs_up == 9
    assert len(result.reports) == len(alerts) and result.rejected == []


def test_kinds_are_data() -> None:
    # Subtype first, then type: a subtype entry overrides its type's, and settings may pass their own table.
    kinds = {**DEFAULT_KINDS, "ACCIDENT": "traffic", "ROAD_CLOSED_EVENT": "other"}
    reports = {r.kind_key: r.category for r in parse_feed(fixture("waze", "alerts_flood_and_pothole"), kinds).reports}
    assert reports["ACCIDENT_MINOR"] == "traffic" and reports["ROAD_CLOSED_EVENT"] == "other"
    assert set(DEFAULT_KINDS.values()) <= {"flood", "drainage", "garbage", "illegal_parking", "jockey_3in1", "traffic",
                                           "road_damage", "tree", "street_light", "beggars", "billboard", "other"}


def test_corroboration_is_bounded() -> None:
    report = by_uuid(parse("alerts_flood_and_pothole"))[CLOSED]
    huge = WazeReport(**{**report.__dict__, "reliability": 99, "confidence": -3, "thumbs_up": 491})
    assert corroboration(huge) == 10 + 0 + 5


def test_every_fixture_has_a_test() -> None:
    names = {p.stem for p in WAZE.iterdir() if p.suffix in (".json", ".txt")}
    source = Path(__file__).read_text(encoding="utf-8")
    assert names == {name for name in names if re.search(rf'"{name}(\.txt)?"', source)}
