"""The officer roster: officers from config.yaml (routing.officers) and from `crophub officer add`."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import Officer, utcnow


def sync_config(session: Session, officers: list[dict[str, Any]]) -> None:
    """Make the config's officers active as written there; deactivate config officers no longer listed.

    An officer added with the CLI keeps their entry unless the config names the same Telegram id, in
    which case the config wins (it is what the operator edits)."""
    listed = {o["telegram_id"]: o for o in officers}
    now = utcnow()
    for officer in session.scalars(select(Officer)):
        spec = listed.pop(officer.telegram_id, None)
        if spec is not None:
            _apply(officer, spec, "config", now)
        elif officer.source == "config" and officer.active:
            officer.active, officer.updated_at = False, now
    for spec in listed.values():
        officer = Officer(telegram_id=spec["telegram_id"], created_at=now)
        _apply(officer, spec, "config", now)
        session.add(officer)
    session.flush()


def add(session: Session, spec: dict[str, Any]) -> Officer:
    """Add an officer, or update and reactivate the one with this Telegram id."""
    now = utcnow()
    officer = by_telegram_id(session, spec["telegram_id"], active_only=False)
    if officer is None:
        officer = Officer(telegram_id=spec["telegram_id"], created_at=now)
        session.add(officer)
    _apply(officer, spec, "cli", now)
    session.flush()
    return officer


def remove(session: Session, telegram_id: str) -> bool:
    """Deactivate an officer (kept for the audit trail); False if no active officer has this id."""
    result = session.execute(update(Officer).where(Officer.telegram_id == telegram_id, Officer.active.is_(True))
                             .values(active=False, updated_at=utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def all_officers(session: Session, active_only: bool = True) -> list[Officer]:
    """Officers by name."""
    stmt = select(Officer).order_by(Officer.name, Officer.id)
    if active_only:
        stmt = stmt.where(Officer.active.is_(True))
    return list(session.scalars(stmt))


def by_telegram_id(session: Session, telegram_id: str, active_only: bool = True) -> Officer | None:
    """The officer with this Telegram user id."""
    stmt = select(Officer).where(Officer.telegram_id == telegram_id)
    if active_only:
        stmt = stmt.where(Officer.active.is_(True))
    return session.scalars(stmt).first()


def _apply(officer: Officer, spec: dict[str, Any], source: str, now: Any) -> None:
    officer.name = spec["name"]
    officer.role = spec.get("role", "petugas")
    officer.areas = list(spec.get("areas", []))
    officer.agencies = list(spec.get("agencies", []))
    officer.source, officer.active, officer.updated_at = source, True, now
