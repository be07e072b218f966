"""Alembic migrations run from code: `crophub migrate` and auto-migrate at start."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from store.db import make_engine

SCRIPTS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def _command(url: str, action: Callable[[Config, str], None], revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by rebuilding it (Alembic's batch mode): dropping the old table fails
                # while other tables' rows point at it, unless foreign keys are off, which only takes effect
                # outside a transaction (so on the raw connection, before SQLAlchemy begins one).
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            try:
                with conn.begin():
                    cfg = _config()
                    cfg.attributes["connection"] = conn
                    action(cfg, revision)
                    if sqlite:
                        broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise RuntimeError(f"migration left rows pointing nowhere: {broken[:5]}")
            finally:
                if sqlite:
                    conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    _command(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    """Take the database at `url` down to `revision` ("base" empties it)."""
    _command(url, command.downgrade, revision)


def is_current(url: str) -> bool:
    """True when the database is at the newest migration."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            # Only a question: Alembic's "Context impl SQLiteImpl" lines would be noise in every command's output.
            quiet = logging.getLogger("alembic.runtime.migration")
            level, quiet.level = quiet.level, logging.WARNING
            try:
                return MigrationContext.configure(conn).get_current_revision() == head
            finally:
                quiet.setLevel(level)
    finally:
        engine.dispose()
