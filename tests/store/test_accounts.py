"""Dashboard accounts and sessions, on SQLite and PostgreSQL: hashed passwords, hashed tokens, expiry."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from store import accounts, db
from store import officers as roster
from store.models import WebAccount, WebSession, utcnow


@pytest.fixture
def officer_id(db_url: str) -> int:
    db.configure(db_url)
    with db.session() as s:
        officer = roster.add(s, {"telegram_id": "42", "name": "Rina", "role": "lurah", "areas": ["31.75.03.1001"],
                                 "agencies": []})
        s.flush()
        accounts.add(s, "rina", "air-surut-sudah", officer)
        return officer.id


def test_passwords_and_tokens_are_stored_only_as_hashes(officer_id: int) -> None:
    with db.session() as s:
        account = accounts.verify(s, "RINA ", "air-surut-sudah")
        assert account is not None and account.password_hash.startswith("$argon2id$")
        token, csrf = accounts.start(s, account, timedelta(hours=1))
    with db.session() as s:
        stored = s.scalars(select(WebSession)).one()
        assert stored.token_hash != token and token not in stored.token_hash and len(stored.token_hash) == 64
        account, officer, form_token = accounts.current(s, token)  # type: ignore[misc]
        assert officer.name == "Rina" and form_token == csrf
        assert accounts.current(s, token + "x") is None and accounts.current(s, "") is None


def test_sessions_expire_end_and_die_with_a_new_password_or_a_removed_officer(officer_id: int) -> None:
    with db.session() as s:
        account = accounts.verify(s, "rina", "air-surut-sudah")
        token, _ = accounts.start(s, account, timedelta(hours=1))  # type: ignore[arg-type]
    with db.session() as s:
        assert accounts.current(s, token, now=utcnow() + timedelta(hours=2)) is None
        assert accounts.current(s, token) is not None
        officer = roster.by_identity(s, "telegram", "42")
        accounts.add(s, "rina", "password-baru-lagi", officer)  # type: ignore[arg-type]
    with db.session() as s:
        assert accounts.current(s, token) is None  # a new password ends the old sessions
        account = accounts.verify(s, "rina", "password-baru-lagi")
        token, _ = accounts.start(s, account, timedelta(hours=1))  # type: ignore[arg-type]
    with db.session() as s:
        roster.remove(s, "telegram", "42")
    with db.session() as s:
        assert accounts.current(s, token) is None and accounts.verify(s, "rina", "password-baru-lagi") is None
        assert s.scalars(select(WebAccount)).one().username == "rina"


def test_a_username_belongs_to_one_officer(officer_id: int) -> None:
    with db.session() as s:
        other = roster.add(s, {"telegram_id": "43", "name": "Joko", "role": "petugas", "areas": ["31.75"],
                               "agencies": ["dsda"]})
        s.flush()
        with pytest.raises(accounts.AccountError, match="login of another officer"):
            accounts.add(s, "rina", "password-panjang", other)
        with pytest.raises(accounts.AccountError, match="username"):
            accounts.add(s, "rina <script>", "password-panjang", other)


def test_sessions_that_ran_out_are_deleted_as_new_ones_start(officer_id: int) -> None:
    with db.session() as s:
        account = accounts.verify(s, "rina", "air-surut-sudah")
        accounts.start(s, account, timedelta(seconds=-1))  # type: ignore[arg-type]  # already over
        accounts.start(s, account, timedelta(hours=1))  # type: ignore[arg-type]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(WebSession)) == 1
