"""Dashboard accounts and sessions: argon2id password hashes, random session tokens stored only as hashes."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from store.models import Officer, WebAccount, WebSession, utcnow

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verifying against this when the username is unknown takes as long as a real check: no timing tells
# which usernames exist.
_DUMMY = _hasher.hash("not a password")
MIN_PASSWORD = 10


class AccountError(ValueError):
    """An account that cannot be created as asked (the message says why)."""


def add(session: Session, username: str, password: str, officer: Officer) -> WebAccount:
    """Create (or reset the password of) `username`, the login of `officer`."""
    username = username.strip().lower()
    if not username or len(username) > 64 or not username.replace(".", "").replace("_", "").replace("-", "").isalnum():
        raise AccountError("a username is 1-64 letters, digits, dots, dashes or underscores")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
    account = session.scalar(select(WebAccount).where(WebAccount.username == username))
    if account is None:
        account = WebAccount(username=username, officer_id=officer.id, created_at=utcnow())
        session.add(account)
    elif account.officer_id != officer.id:
        raise AccountError(f"{username} is the login of another officer")
    account.password_hash, account.active = _hasher.hash(password), True
    # A new password ends every session of the old one.
    session.flush()
    session.execute(delete(WebSession).where(WebSession.account_id == account.id))
    return account


def verify(session: Session, username: str, password: str) -> WebAccount | None:
    """The active account whose officer is active, if the password is right."""
    account = session.scalar(select(WebAccount).where(WebAccount.username == username.strip().lower()))
    try:
        _hasher.verify(account.password_hash if account else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    officer = session.get(Officer, account.officer_id) if account else None
    if account is None or not account.active or officer is None or not officer.active:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    account.last_login_at = utcnow()
    return account


def start(session: Session, account: WebAccount, lifetime: timedelta) -> tuple[str, str]:
    """A new session for `account`; → (the cookie's token, the session's CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    # Sessions that have run out go as new ones start: the table holds only live ones (and few dead).
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    session.add(WebSession(token_hash=_digest(token), account_id=account.id, csrf_token=csrf, created_at=now,
                           expires_at=now + lifetime))
    return token, csrf


def current(session: Session, token: str, now: datetime | None = None) -> tuple[WebAccount, Officer, str] | None:
    """(account, officer, CSRF token) of a live session; None when expired, ended or its officer is gone."""
    if not token:
        return None
    row = session.get(WebSession, _digest(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    account = session.get(WebAccount, row.account_id)
    officer = session.get(Officer, account.officer_id) if account else None
    if account is None or not account.active or officer is None or not officer.active:
        return None
    return account, officer, row.csrf_token


def end(session: Session, token: str) -> None:
    """Log a session out."""
    session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def _digest(token: str) -> str:
    # Only the hash is stored: a copy of the database does not log anyone in.
    return hashlib.sha256(token.encode()).hexdigest()
