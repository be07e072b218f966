"""Shared fixtures: a real Redis, SQLite and PostgreSQL databases, and the fake Telegram Bot API."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest
import redis

from bots import registry
from router import context
from router.context import RouterConfig
from store import db, migrate
from tests.fakes.telegram_api import FakeBotAPI

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("CROPHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CROPHUB_TEST_REDIS_URL", "")
# Without CROPHUB_TEST_REDIS_URL, a test session claims one of these databases of the local Redis, so
# two sessions on one machine (they flush their database) do not empty each other's queues.
TEST_REDIS_DBS = (13, 12, 11, 10, 9, 8)


def fixture(channel: str, name: str) -> Any:
    """A payload fixture from tests/fixtures/<channel>/<name>.json."""
    return json.loads((FIXTURES / channel / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis URL: the configured one, else a database of the local Redis no other test session holds,
    else an embedded redis-server for the session."""
    if REDIS_URL:
        # Marked as held too (CI sets it), so a test session started beside it takes another database.
        held = _hold(REDIS_URL)
        yield REDIS_URL
        if held is not None:
            held[0].delete(held[1])
        return
    try:
        local = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=1)
        local.ping()
        claim = f"crophub:test-session:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        for number in TEST_REDIS_DBS:
            # The claim lives in database 0 (the tests flush theirs) and expires if a session is killed.
            if local.set(f"crophub:test-db:{number}", claim, nx=True, ex=3 * 3600):
                yield f"redis://127.0.0.1:6379/{number}"
                if local.get(f"crophub:test-db:{number}") == claim.encode():
                    local.delete(f"crophub:test-db:{number}")
                return
    except redis.RedisError:
        pass
    from hub.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(tmp_path_factory.mktemp("redis"), appendonly=False)
    yield embedded.start()
    embedded.stop()


def _hold(url: str) -> tuple[redis.Redis, str] | None:
    """Mark the database of `url` as held by this session, in the claims other sessions check (database 0)."""
    try:
        pool = redis.ConnectionPool.from_url(url)  # the URL's database wins over a db= argument: rebuilt
        options = dict(pool.connection_kwargs)
        number = options.pop("db", 0)
        claims = redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, db=0,
                                                                  **options))
        key = f"crophub:test-db:{number}"
        claims.set(key, f"crophub:test-session:{os.getpid()}:configured", ex=3 * 3600)
        return claims, key
    except redis.RedisError:
        return None


@pytest.fixture
def redis_conn(redis_server: str) -> Iterator[redis.Redis]:
    """A Redis connection on an emptied database."""
    conn = redis.Redis.from_url(redis_server)
    conn.flushdb()
    yield conn
    conn.flushdb()


def _pg_available() -> bool:
    try:
        psycopg.connect(PG_URL, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, and a fresh schema in PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crophub.db'}"
        migrate.upgrade(url)
        yield url
        return
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL not reachable at {PG_URL}; CI must run the store tests on it")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    migrate.upgrade(url)
    yield url
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database (for tests about channels, not storage)."""
    url = f"sqlite:///{tmp_path / 'crophub.db'}"
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def bot_api() -> Iterator[FakeBotAPI]:
    """The fake Bot API server, in its own thread, for the whole session."""
    api = FakeBotAPI().start()
    yield api
    api.stop()


@pytest.fixture
def fake_api(bot_api: FakeBotAPI) -> FakeBotAPI:
    """The fake Bot API, emptied for this test."""
    bot_api.reset()
    return bot_api


TELEGRAM_TOKEN_ENV = "CROPHUB_TEST_TELEGRAM_TOKEN"  # not the default name: a test's channel is on only when it asks


@pytest.fixture
def telegram_config(fake_api: FakeBotAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A telegram config section pointed at the fake Bot API, its bot token in the variable token_env names."""
    monkeypatch.setenv(TELEGRAM_TOKEN_ENV, fake_api.token)
    return {"token_env": TELEGRAM_TOKEN_ENV, "api_base_url": fake_api.base_url, "file_base_url": fake_api.file_base_url,
            "poll_timeout": 0, "poll_limit": 100, "connection_pool": 8}


@pytest.fixture
def hub(db_url: str, redis_conn: redis.Redis, telegram_config: dict[str, Any]) -> Iterator[str]:
    """This process wired as a worker: database, router context, Telegram sender; yields the db URL."""
    db.configure(db_url)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"telegram": telegram_config})
    yield db_url
    registry.configure({})
