"""Engine and session factory: SQLite (WAL, busy timeout) by default, PostgreSQL by URL."""
from __future__ import annotations

import sqlite3

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import psycopg
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from store.storable import clean_text

_factory: sessionmaker[Session] | None = None
# PostgreSQL connections each process keeps open, and the extra ones it may open for a burst. A worker uses up to
# three at once (its job, the outbox's recorder thread, a sender's lookups), a listener one or two; so
# processes × (POOL_SIZE + POOL_OVERFLOW) must stay under the server's max_connections (100 by default).
POOL_SIZE = 5
POOL_OVERFLOW = 5


def _normalise(url: str) -> str:
    # "postgresql://" means psycopg 3 here: it is the driver we install.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout so several processes share them."""
    url = _normalise(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # psycopg's RawCursor takes PostgreSQL's own $1 placeholders as they are: with its default cursor every
        # multi-row INSERT (a batch of tickets, replies) is re-parsed in Python to find its %(name)s markers, about
        # an eighth of a worker's CPU under bench/intake.py (bench/README.md).
        raw = {"connect_args": {"cursor_factory": psycopg.RawCursor}, "paramstyle": "numeric_dollar"} \
            if parsed.get_driver_name() == "psycopg" else {}
        return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, **raw)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, open transactions, so BEGIN IMMEDIATE below takes effect.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        # Take the write lock up front: a deferred transaction that later writes can fail with
        # "database is locked" instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def configure(url: str) -> sessionmaker[Session]:
    """Set this process's database; returns its session factory."""
    global _factory
    if _factory is not None:
        _factory.kw["bind"].dispose()
    _factory = sessionmaker(make_engine(url), expire_on_commit=False)
    return _factory


def factory() -> sessionmaker[Session]:
    """This process's session factory (configure() must have run)."""
    if _factory is None:
        raise RuntimeError("store.db.configure(url) has not been called in this process")
    return _factory


@contextmanager
def session() -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on error."""
    with factory().begin() as s:
        yield s


# PostgreSQL SQLSTATEs worth retrying the whole transaction for: deadlock, serialization failure, lock not
# available. Anything else (a cancelled statement, a full disk) would fail the same way again.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001", "55P03"})


def unavailable(exc: BaseException) -> bool:
    """True when the database failed (down, unreachable, out of connections, locked, busy), not the data: trying
    the same work again later is the cure."""
    return isinstance(exc, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout)) or is_transient(exc)


def reason(exc: BaseException) -> str:
    """An exception in one storable line, without the SQL and parameters SQLAlchemy appends."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return clean_text(f"{type(cause).__name__}: {lines[0] if lines else ''}")[:1000]


def is_transient(exc: BaseException) -> bool:
    """True for a database error that retrying the transaction can cure (a deadlock, a busy SQLite file)."""
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))
