"""The officer roster: officers from config.yaml (routing.officers) and from `crophub officer add`, each known on
one or more channels by an identity (the sender id their messages carry there)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from store.models import Officer, OfficerIdentity, utcnow


def identities(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """A spec's (channel, user id) pairs in order of preference; `telegram_id` is short for a Telegram one, first."""
    pairs = [("telegram", str(spec["telegram_id"]))] if spec.get("telegram_id") else []
    pairs += [(channel, str(user)) for channel, user in (spec.get("identities") or {}).items()
              if (channel, str(user)) not in pairs]
    if not pairs:
        raise ValueError(f"officer {spec.get('name')!r} has no identity on any channel")
    return pairs


def sync_config(session: Session, officers: list[dict[str, Any]]) -> None:
    """Make the config's officers active as written there; deactivate config officers no longer listed.

    An officer is the same person as an existing one when they share an identity. An officer added with the CLI
    keeps their entry unless the config names one of their identities, in which case the config wins (it is
    what the operator edits)."""
    now = utcnow()
    seen = {_put(session, spec, "config", now).id for spec in officers}
    for officer in session.scalars(select(Officer).where(Officer.source == "config", Officer.active.is_(True))):
        if officer.id not in seen:
            officer.active, officer.updated_at = False, now
    session.flush()


def add(session: Session, spec: dict[str, Any]) -> Officer:
    """Add an officer, or update and reactivate the one who has one of these identities."""
    return _put(session, spec, "cli", utcnow())


def _put(session: Session, spec: dict[str, Any], source: str, now: datetime) -> Officer:
    """The officer who has one of the spec's identities, or a new one, written as the spec says."""
    pairs = identities(spec)
    officer = _find(session, pairs, active_only=False)
    if officer is None:
        officer = Officer(created_at=now)
        session.add(officer)
    _apply(session, officer, spec, pairs, source, now)
    session.flush()
    return officer


def remove(session: Session, channel: str, user_id: str) -> bool:
    """Deactivate the officer with this identity (kept for the audit trail); False if no active officer has it."""
    officer = by_identity(session, channel, user_id)
    if officer is None:
        return False
    officer.active, officer.updated_at = False, utcnow()
    return True


def all_officers(session: Session, active_only: bool = True) -> list[Officer]:
    """Officers by name, with their identities."""
    stmt = select(Officer).order_by(Officer.name, Officer.id)
    if active_only:
        stmt = stmt.where(Officer.active.is_(True))
    return list(session.scalars(stmt))


def by_identity(session: Session, channel: str, user_id: str, active_only: bool = True) -> Officer | None:
    """The officer who is `user_id` on `channel`."""
    stmt = select(Officer).join(OfficerIdentity).where(OfficerIdentity.channel == channel,
                                                       OfficerIdentity.user_id == str(user_id))
    if active_only:
        stmt = stmt.where(Officer.active.is_(True))
    return session.scalars(stmt).first()


def parse_handle(handle: str) -> tuple[str, str]:
    """"telegram:42" → ("telegram", "42"); a bare number is a Telegram user id (as officers were first known)."""
    channel, sep, user = handle.strip().partition(":")
    if not sep:
        return "telegram", channel
    return channel, user


def _find(session: Session, pairs: list[tuple[str, str]], active_only: bool) -> Officer | None:
    for channel, user in pairs:
        found = by_identity(session, channel, user, active_only)
        if found is not None:
            return found
    return None


def _apply(session: Session, officer: Officer, spec: dict[str, Any], pairs: list[tuple[str, str]], source: str,
           now: datetime) -> None:
    officer.name = spec["name"]
    officer.role = spec.get("role", "petugas")
    officer.areas = list(spec.get("areas", []))
    officer.agencies = list(spec.get("agencies", []))
    officer.source, officer.active, officer.updated_at = source, True, now
    session.flush()  # the officer has an id
    # The identities are written anew: an identity another officer held moves to this one (the spec is the newer
    # word on who that person is). Deleted first, in SQL, so that the unique (channel, user id) never sees both.
    held = or_(*(and_(OfficerIdentity.channel == c, OfficerIdentity.user_id == u) for c, u in pairs))
    session.execute(delete(OfficerIdentity).where(or_(OfficerIdentity.officer_id == officer.id, held)),
                    execution_options={"synchronize_session": "fetch"})
    session.add_all(OfficerIdentity(officer_id=officer.id, channel=c, user_id=u, position=n) for n, (c, u) in enumerate(pairs))
    session.flush()
    for loaded in session.identity_map.values():
        if isinstance(loaded, Officer):
            session.expire(loaded, ["identities"])

