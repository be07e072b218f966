"""The fake Waze feed, exercised with aiohttp's client: snapshots, conditional GETs, injected failures."""
from __future__ import annotations

import asyncio
from typing import Iterator, Mapping

import aiohttp
import pytest

from ingest.waze.parse import parse_feed
from tests.conftest import FIXTURES, fixture
from tests.fakes.waze_feed import FakeWazeFeed


@pytest.fixture
def feed() -> Iterator[FakeWazeFeed]:
    with FakeWazeFeed((FIXTURES / "waze" / "alerts_flood_and_pothole.json").read_bytes()) as fake:
        yield fake


async def get(url: str, headers: dict[str, str] | None = None,
              timeout: float = 5) -> tuple[int, Mapping[str, str], bytes]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
        async with session.get(url, headers=headers or {}) as response:
            return response.status, response.headers.copy(), await response.read()  # case-insensitive


async def test_serves_the_snapshot_with_validators(feed: FakeWazeFeed) -> None:
    status, headers, body = await get(feed.url)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert headers["ETag"] == feed.etag and headers["Last-Modified"].endswith("GMT")
    assert len(parse_feed(body).mapped) == 4
    assert feed.url.startswith("http://127.0.0.1:") and feed.statuses() == [200]


async def test_a_repeat_with_the_etag_is_not_modified(feed: FakeWazeFeed) -> None:
    _, headers, _ = await get(feed.url)
    status, again, body = await get(feed.url, {"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b"" and again["ETag"] == headers["ETag"]
    status, _, _ = await get(feed.url, {"If-Modified-Since": headers["Last-Modified"]})
    assert status == 304
    # The record shows what the client sent, for later tests of the poller's conditional requests.
    assert feed.requests[1].headers["If-None-Match"] == headers["ETag"]
    assert feed.statuses() == [200, 304, 304]


async def test_a_new_snapshot_changes_the_etag(feed: FakeWazeFeed) -> None:
    _, first, _ = await get(feed.url)
    assert feed.serve((FIXTURES / "waze" / "alerts_flood_and_pothole.json").read_bytes()) == first["ETag"]  # same bytes
    feed.serve(fixture("waze", "second_poll"))
    status, headers, body = await get(feed.url, {"If-None-Match": first["ETag"]})
    assert status == 200 and headers["ETag"] != first["ETag"]
    assert len(parse_feed(body).reports) == 3


async def test_injected_failures_then_recovery(feed: FakeWazeFeed) -> None:
    feed.fail_next(500, times=2)
    feed.fail_next(429, retry_after=30)
    answers = [await get(feed.url) for _ in range(4)]
    assert [a[0] for a in answers] == [500, 500, 429, 200] and answers[2][1]["Retry-After"] == "30"
    assert feed.statuses() == [500, 500, 429, 200]
    assert feed.requests[0].at <= feed.requests[-1].at


async def test_a_slow_answer_times_the_client_out(feed: FakeWazeFeed) -> None:
    feed.delay_next(0.5)
    with pytest.raises(asyncio.TimeoutError):
        await get(feed.url, timeout=0.1)
    status, _, _ = await get(feed.url, timeout=2)
    assert status == 200
