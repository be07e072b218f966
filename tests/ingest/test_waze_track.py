"""Tracking snapshots: which alerts are new, changed, back or gone, and the messages each produces."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from ingest.waze import track
from ingest.waze.parse import parse_feed
from store import db
from store.models import WazeAlert
from tests.conftest import fixture

RULES = track.Rules(min_corroboration=12, misses_before_gone=3)
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)
FLOOD = "3f6a2c1e-8b4d-4f0a-9c7e-1d2b3a4c5e01"
POTHOLE = "b2e4f6a8-1c3d-4e5f-a7b9-c1d3e5f7a903"
JAM = "jam:1187654317"


@pytest.fixture(autouse=True)
def store(db_url: str) -> None:
    db.configure(db_url)


def observe(feed: dict[str, Any], minutes: int = 0) -> track.Changes:
    with db.session() as s:
        return track.observe(s, parse_feed(feed), RULES, T0 + timedelta(minutes=minutes))


def rows() -> dict[str, WazeAlert]:
    with db.session() as s:
        return {r.key: r for r in s.scalars(select(WazeAlert))}


def first() -> dict[str, Any]:
    return copy.deepcopy(fixture("waze", "alerts_flood_and_pothole"))


def test_every_mapped_alert_is_new_once_with_its_uuid_as_key() -> None:
    changes = observe(first())
    assert (changes.new, changes.updated, changes.gone) == (4, 0, 0)
    assert {m.key for m in changes.messages} == set(rows())
    msg = next(m for m in changes.messages if m.key == POTHOLE)
    assert (msg.channel, msg.command, msg.sender.is_bot, msg.address.chat_id) == ("waze", "waze:new", True, POTHOLE)
    assert msg.location.lat == pytest.approx(-6.233108) and msg.text.startswith("Waze HAZARD_ON_ROAD_POT_HOLE di Jl. D.I.")
    assert rows()[POTHOLE].corroborated and not rows()[FLOOD].corroborated
    again = observe(first(), minutes=2)
    assert again.messages == [] and again.unchanged == 4
    # Thumbs-up past the score's cap tell the router nothing, but the row keeps the latest count.
    capped = first()
    capped["alerts"][3]["nThumbsUp"] = 40  # the closed road: 11 already counts the cap of 5
    assert observe(capped, minutes=4).messages == []
    assert rows()["d4c3b2a1-9f8e-4d7c-b6a5-f4e3d2c1b004"].data["thumbs_up"] == 40


def test_a_material_change_is_a_new_version_and_misses_reset_when_seen_again() -> None:
    observe(first())
    feed = first()
    feed["alerts"] = [a for a in feed["alerts"] if a["uuid"] != POTHOLE]
    observe(feed, 2)
    assert rows()[POTHOLE].misses == 1
    changed = first()
    changed["alerts"][0]["nThumbsUp"] = 5  # the flood: score 11 → 14, now corroborated
    result = observe(changed, 4)
    assert [m.key for m in result.messages] == [f"{FLOOD}@2"] and result.messages[0].command == "waze:update"
    assert rows()[FLOOD].corroborated and rows()[FLOOD].version == 2
    assert rows()[POTHOLE].misses == 0 and rows()[POTHOLE].status == "active"


def test_an_alert_absent_long_enough_is_gone_once_and_may_come_back() -> None:
    observe(first())
    feed = first()
    feed["alerts"] = [a for a in feed["alerts"] if a["uuid"] != POTHOLE]
    for minute in (2, 4):
        assert observe(feed, minute).gone == 0
    gone = observe(feed, 6)
    assert gone.gone == 1 and [(m.key, m.command) for m in gone.messages] == [(f"{POTHOLE}@2", "waze:gone")]
    assert rows()[POTHOLE].status == "gone" and rows()[POTHOLE].gone_at == T0 + timedelta(minutes=6)
    assert observe(feed, 8).messages == []  # gone is said once
    back = observe(first(), 10)
    assert back.back == 1 and [m.key for m in back.messages] == [f"{POTHOLE}@3"]
    assert rows()[POTHOLE].status == "active" and rows()[POTHOLE].gone_at is None


def test_a_jam_changes_with_its_level_not_with_its_delay() -> None:
    jams = copy.deepcopy(fixture("waze", "jams"))
    assert [m.key for m in observe(jams).messages] == [JAM]  # level 5; the level 2 jam is not a report
    jams["jams"][1]["delay"] = 900
    jams["jams"][1]["length"] = 2500
    assert observe(jams, 2).messages == []
    jams["jams"][1]["level"] = 4
    assert [m.key for m in observe(jams, 4).messages] == [f"{JAM}@2"]
    assert rows()[JAM].kind_key == "JAM_LEVEL_4" and rows()[JAM].score == 25


def test_an_empty_snapshot_counts_no_misses(caplog: pytest.LogCaptureFixture) -> None:
    observe(first())
    observe(fixture("waze", "empty"), 2)
    assert {r.misses for r in rows().values()} == {0}
    assert "snapshot is empty; 4 active alert(s) kept" in caplog.text
    # A snapshot holding only unmapped kinds is not empty: the mapped alerts it lacks are missed.
    only_accident = first()
    only_accident["alerts"] = [a for a in only_accident["alerts"] if a["type"] == "ACCIDENT"]
    observe(only_accident, 4)
    assert {r.misses for r in rows().values()} == {1}


def test_an_alert_still_in_the_feed_is_not_missed_when_it_is_malformed_once_or_no_longer_mapped() -> None:
    jams = copy.deepcopy(fixture("waze", "jams"))
    both = first()
    both["jams"] = jams["jams"]
    observe(both)
    feed = first()
    pothole = next(a for a in feed["alerts"] if a["uuid"] == POTHOLE)
    pothole["location"] = {"x": "106.87", "y": "-6.23"}  # rejected this time, but still there
    eased = copy.deepcopy(jams)
    eased["jams"][1]["level"] = 3  # below min_jam_level: not a report now, but not gone
    feed["jams"] = eased["jams"]
    for minute in (2, 4, 6):
        observe(feed, minute)
    assert rows()[POTHOLE].misses == 0 and rows()[JAM].misses == 0 and rows()[JAM].status == "active"


def test_misses_count_consecutive_snapshots_only() -> None:
    observe(first())
    absent = first()
    absent["alerts"] = [a for a in absent["alerts"] if a["uuid"] != POTHOLE]
    malformed = first()
    next(a for a in malformed["alerts"] if a["uuid"] == POTHOLE)["location"] = None
    for minute, feed in enumerate((absent, absent, malformed, absent), start=1):
        observe(feed, minute)
    assert rows()[POTHOLE].status == "active" and rows()[POTHOLE].misses == 1
