"""The Waze poller against the fake feed (real HTTP, ETag/304) on SQLite and PostgreSQL: snapshots are told
apart by their content, hostile alerts are rejected one by one, and an unreadable feed is kept as rejected."""
from __future__ import annotations

import copy
import json
import logging
from typing import Any, AsyncIterator, Iterator

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Intake
from ingest.waze.poll import FeedPoller
from store import db
from store.models import InboundMessage, WazeAlert
from tests.conftest import fixture
from tests.fakes.waze_feed import FakeWazeFeed, feed_options

pytestmark = pytest.mark.usefixtures("hub")

FIRST = {"3f6a2c1e-8b4d-4f0a-9c7e-1d2b3a4c5e01", "7c1d9e2f-4a3b-4c5d-8e6f-0a1b2c3d4e02",
         "b2e4f6a8-1c3d-4e5f-a7b9-c1d3e5f7a903", "d4c3b2a1-9f8e-4d7c-b6a5-f4e3d2c1b004"}  # its mapped alerts
LATE = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a821"  # the Kemang flood of late_flood.json
DEWI = "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a34"  # the NUL-in-street flood of hostile_alerts.json


def with_alerts(*extra: dict[str, Any]) -> dict[str, Any]:
    """The first snapshot, same endTimeMillis, with `extra` alerts added."""
    feed = copy.deepcopy(fixture("waze", "alerts_flood_and_pothole"))
    feed["alerts"] += extra
    return feed


@pytest.fixture
def feed() -> Iterator[FakeWazeFeed]:
    with FakeWazeFeed(fixture("waze", "alerts_flood_and_pothole")) as fake:
        yield fake


@pytest.fixture
async def poller(feed: FakeWazeFeed, redis_conn: redis.Redis) -> AsyncIterator[FeedPoller]:
    p = FeedPoller(feed_options(feed.url), Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    yield p
    await p.close()


def alerts() -> dict[str, WazeAlert]:
    with db.session() as s:
        return {a.key: a for a in s.scalars(select(WazeAlert))}


def inbound(status: str) -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).where(InboundMessage.status == status).order_by(InboundMessage.id)))


async def test_a_snapshot_changed_within_the_same_minute_is_tracked(poller: FeedPoller, feed: FakeWazeFeed) -> None:
    assert (await poller.poll_once()).status == "changed"
    # Same endTimeMillis, one alert more: a new snapshot all the same (and a new ETag).
    feed.serve(with_alerts(*fixture("waze", "late_flood")["alerts"]))
    outcome = await poller.poll_once()
    assert outcome.status == "changed" and outcome.changes is not None and outcome.changes.new == 1
    assert set(alerts()) == FIRST | {LATE}
    assert LATE in {m.key for m in inbound("received")}
    # Its validators were kept with it: the next poll is conditional and answered 304.
    assert (await poller.poll_once()).status == "same" and feed.statuses()[-1] == 304


async def test_a_skipped_snapshot_keeps_no_validators_and_is_logged(poller: FeedPoller, feed: FakeWazeFeed,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.waze.poll")
    await poller.poll_once()
    # A server that forgot its validators sends the same bytes again: skipped, and its validators are not kept.
    poller.etag = poller.last_modified = None
    assert (await poller.poll_once()).status == "same" and feed.statuses()[-1] == 200
    assert (poller.etag, poller.last_modified) == (None, None)
    [skip] = [r for r in caplog.records if "already tracked" in r.getMessage()]
    assert skip.levelno == logging.INFO
    assert "If-None-Match" not in feed.requests[-1].headers
    # The next body that is processed brings its validators.
    feed.serve(with_alerts(*fixture("waze", "late_flood")["alerts"]))
    assert (await poller.poll_once()).status == "changed" and poller.etag == feed.etag


@pytest.mark.parametrize("bad, reason", [
    (0, "coordinates out of range (-6.230012, nan)"),
    (1, "coordinates out of range (inf, 106.870251)"),
    (2, "uuid is longer than 128 characters"),
    (3, None),  # a NUL in the street: stripped, and the alert tracked
], ids=["nan", "inf", "long-uuid", "nul-street"])
async def test_a_hostile_alert_blocks_nothing(poller: FeedPoller, feed: FakeWazeFeed, bad: int,
                                              reason: str | None) -> None:
    alert = fixture("waze", "hostile_alerts")["alerts"][bad]
    feed.serve(json.dumps(with_alerts(alert)))  # NaN and Infinity as Python writes them, as a broken exporter might
    assert (await poller.poll_once()).status == "changed"
    tracked = alerts()
    if reason is None:
        assert set(tracked) == FIRST | {DEWI} and tracked[DEWI].street == "Jl. Dewi Sartika"
        assert tracked[DEWI].description == "Banjir selutut \ufffd depan PGC" and inbound("rejected") == []
        [message] = [m for m in inbound("received") if m.key == DEWI]  # its raw stored cleaned, the original kept
        assert message.raw["street"] == "Jl. Dewi Sartika" and "Jl. Dewi\\u0000 Sartika" in message.raw_text
        return
    assert set(tracked) == FIRST
    [rejected] = inbound("rejected")
    assert rejected.channel == "waze" and reason in rejected.reason
    assert len(inbound("received")) == len(FIRST)


async def test_a_feed_nested_5000_levels_deep_is_kept_as_rejected_and_the_poller_goes_on(
        poller: FeedPoller, feed: FakeWazeFeed, caplog: pytest.LogCaptureFixture) -> None:
    feed.serve('{"alerts": [' + "[" * 5000 + "]" * 5000 + "]}")
    assert (await poller.poll_once()).status == "malformed"
    [kept] = inbound("rejected")
    assert "nested too deeply" in kept.reason and kept.raw["body"].startswith('{"alerts": [[[')
    assert any(r.levelno == logging.WARNING and "nested too deeply" in r.getMessage() for r in caplog.records)
    feed.serve(fixture("waze", "alerts_flood_and_pothole"))
    assert (await poller.poll_once()).status == "changed" and set(alerts()) == FIRST


async def test_an_alert_the_database_refuses_is_rejected_alone_and_the_snapshot_tracked(
    poller: FeedPoller, feed: FakeWazeFeed, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest.waze import track

    plain = track._values

    def refused_for_late(report: Any, rules: Any) -> dict[str, Any]:
        values = plain(report, rules)
        # Whatever the parser let through that a column will not hold (here a NOT NULL broken on both databases).
        return {**values, "lat": None} if report.uuid == LATE else values

    monkeypatch.setattr(track, "_values", refused_for_late)
    feed.serve(with_alerts(*fixture("waze", "late_flood")["alerts"]))
    assert (await poller.poll_once()).status == "changed"
    assert set(alerts()) == FIRST  # the others are tracked
    [rejected] = inbound("rejected")
    assert rejected.key == LATE and "not storable" in (rejected.reason or "")
    assert {m.key for m in inbound("received")} == FIRST
