"""/healthz asks the database and Redis, /readyz asks for RQ workers: 200 when they answer, 503 naming what does not."""
from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, SimpleWorker
from sqlalchemy.engine import Engine

from ingest.intake import INTAKE_QUEUE
from store import db, migrate
from web.app import make_app
from web.health import Checks

CLOSED = "127.0.0.1:1"  # nothing listens on port 1


async def answer(checks: Checks, path: str) -> tuple[int, dict[str, object]]:
    """The status and JSON body of GET `path` on an app wired to `checks`."""
    app = make_app(checks.health, ready=checks.ready)
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path)
        return response.status, await response.json()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = db.make_engine(db_url)
    yield e
    e.dispose()


async def test_healthz_is_200_when_the_database_and_redis_answer(engine: Engine, redis_conn: redis.Redis) -> None:
    assert await answer(Checks(engine, redis_conn), "/healthz") == (200, {"ok": True, "database": True, "redis": True})


async def test_healthz_is_503_when_the_sqlite_file_is_gone(tmp_path: Path, redis_conn: redis.Redis) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'crophub.db'}"
    migrate.upgrade(url)
    engine = db.make_engine(url)
    checks = Checks(engine, redis_conn)
    assert (await answer(checks, "/healthz"))[0] == 200  # a pooled connection is open now
    shutil.rmtree(tmp_path / "var")
    status, body = await answer(checks, "/healthz")
    assert status == 503 and body["ok"] is False and body["down"] == ["database"]
    assert body["redis"] is True and isinstance(body["database"], str)
    engine.dispose()


async def test_healthz_is_503_when_postgresql_does_not_answer(redis_conn: redis.Redis) -> None:
    engine = db.make_engine(f"postgresql://postgres@{CLOSED}/test")
    status, body = await answer(Checks(engine, redis_conn), "/healthz")
    assert status == 503 and body["down"] == ["database"] and body["redis"] is True
    # The address of the database is for the log, not for whoever asks /healthz.
    assert "127.0.0.1" not in str(body)


async def test_healthz_is_503_when_redis_does_not_answer(engine: Engine) -> None:
    status, body = await answer(Checks(engine, redis.Redis.from_url(f"redis://{CLOSED}/0")), "/healthz")
    assert status == 503 and body["down"] == ["redis"] and body["database"] is True


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says anything: a hung service."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


async def test_a_hung_redis_is_down_after_the_timeout_not_after_the_clients(engine: Engine, silent_port: int) -> None:
    checks = Checks(engine, redis.Redis(port=silent_port), timeout=0.5)
    start = time.monotonic()
    for _ in range(3):  # the first check is still hanging: the next ones wait for it, they do not pile up
        status, body = await answer(checks, "/healthz")
        assert status == 503 and body["down"] == ["redis"]
    assert time.monotonic() - start < 3


async def test_readyz_is_503_without_workers_and_200_with_one(engine: Engine, redis_conn: redis.Redis) -> None:
    checks = Checks(engine, redis_conn)
    status, body = await answer(checks, "/readyz")
    assert status == 503 and body["down"] == ["workers"]
    worker = SimpleWorker([Queue(INTAKE_QUEUE, connection=redis_conn)], connection=redis_conn)
    worker.register_birth()
    try:
        assert await answer(checks, "/readyz") == (200, {"ok": True, "workers": 1})
    finally:
        worker.register_death()
    assert (await answer(checks, "/readyz"))[0] == 503


async def test_readyz_is_503_when_redis_does_not_answer(engine: Engine) -> None:
    status, body = await answer(Checks(engine, redis.Redis.from_url(f"redis://{CLOSED}/0")), "/readyz")
    assert status == 503 and body["down"] == ["workers"]
