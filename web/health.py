"""What /healthz and /readyz ask: the database and Redis answer, RQ workers are registered; each within a timeout."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Callable

from redis import ConnectionPool, Redis
from rq import Worker
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0  # seconds a service has to answer before it counts as down

# What a check says: True (or a count above 0) when the service is up, otherwise why it is not.
Report = dict[str, object]


def is_up(value: object) -> bool:
    """True for a check's answer that means up: True, or a positive count."""
    return value is True or (type(value) is int and value > 0)


class _Bounded:
    """A check run in its own thread and waited for at most `timeout` seconds. One call at a time: while a
    hung service keeps the last call waiting, later ones wait for that same call instead of adding threads."""

    def __init__(self, name: str, check: Callable[[], object], timeout: float) -> None:
        self.name = name
        self.check = check
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"crophub-health-{name}")
        self._lock = threading.Lock()
        self._running: Future[object] | None = None
        self._was_up = True

    def __call__(self) -> object:
        with self._lock:
            if self._running is None or self._running.done():
                self._running = self._pool.submit(self.check)
            running = self._running
        try:
            value = running.result(self.timeout)
            reason = "" if is_up(value) else str(value)
        except FutureTimeout:
            value = reason = f"no answer within {self.timeout:g} s"
        except Exception as exc:
            # The class only: the message may name hosts and ports, and /healthz is public. The log has it.
            value, reason = f"unreachable ({type(exc).__name__})", f"{type(exc).__name__}: {exc}"
        self._log_change(is_up(value), reason)
        return value

    def _log_change(self, up: bool, reason: str) -> None:
        # Once per change rather than once per probe: a load balancer asks every few seconds.
        if up != self._was_up:
            if up:
                log.info("health: %s answers again", self.name)
            else:
                log.warning("health: %s is down: %s", self.name, reason)
        self._was_up = up


class Checks:
    """The services the web app reports on: the database and Redis (/healthz), RQ workers (/readyz)."""

    def __init__(self, engine: Engine, redis: Redis, timeout: float = CHECK_TIMEOUT) -> None:
        probe = _with_timeout(redis, timeout)
        self._database = _Bounded("database", lambda: _database(engine), timeout)
        self._redis = _Bounded("redis", lambda: bool(probe.ping()), timeout)
        self._workers = _Bounded("workers", lambda: _workers(probe), timeout)

    def health(self) -> Report:
        """The database and Redis: each True, or why it is down."""
        return {"database": self._database(), "redis": self._redis()}

    def ready(self) -> Report:
        """The number of RQ workers registered in Redis, or why there are none."""
        return {"workers": self._workers()}


def _with_timeout(redis: Redis, timeout: float) -> Redis:
    """A client of the same Redis whose calls give up after `timeout`: the app's own waits as long as it takes,
    so a connection a dead network keeps open would hold a check (and /healthz's answer) for many minutes."""
    pool = redis.connection_pool
    options = {**pool.connection_kwargs, "socket_timeout": timeout, "socket_connect_timeout": timeout}
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, max_connections=2, **options))


def _database(engine: Engine) -> object:
    path = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        # A pooled connection keeps answering for a deleted file, and a new one would create an empty one.
        return "database file missing"
    # The DBAPI connection, not a Session: on SQLite a Session begins with BEGIN IMMEDIATE and would wait
    # behind a long write; a SELECT 1 needs no lock.
    conn = engine.raw_connection()
    try:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        cursor.close()
    finally:
        conn.close()
    return True


def _workers(redis: Redis) -> object:
    # A worker's key expires about a minute after its heartbeat's TTL (rq: worker_ttl + 60 s), so a worker
    # that died without saying so stops counting within minutes.
    count = len(Worker.all(connection=redis))
    return count or "no RQ worker registered"
