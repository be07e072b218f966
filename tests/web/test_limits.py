"""The in-memory rate limit: a sliding window per key, undo, and a bounded number of keys."""
from __future__ import annotations

import time

from web.limits import Limiter


def test_a_key_gets_its_rate_and_an_undone_event_does_not_count() -> None:
    limit = Limiter(3, window=60)
    assert [limit.allow("a") for _ in range(4)] == [True, True, True, False]
    limit.undo("a")
    assert limit.allow("a") and not limit.allow("a")
    assert limit.allow("b")


def test_the_window_slides() -> None:
    limit = Limiter(1, window=0.05)
    assert limit.allow("a") and not limit.allow("a")
    time.sleep(0.06)
    assert limit.allow("a")


def test_memory_stays_bounded_by_max_keys() -> None:
    limit = Limiter(1, window=3600, max_keys=100)
    for n in range(1000):  # all busy: none is quiet, so the oldest go
        limit.allow(f"user-{n}")
    assert len(limit.seen) <= 100
    refused = Limiter(1, window=3600, max_keys=100)
    refused.allow("x")
    for _ in range(1000):
        assert not refused.allow("x")  # a refused key does not add entries
    assert len(refused.seen) == 1
