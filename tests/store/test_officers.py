"""The officer roster: config officers synced, CLI officers kept, removal keeps the row."""
from __future__ import annotations

import pytest

from store import db
from store import officers as roster


def _spec(tid: str, name: str = "Budi", **kw) -> dict:
    return {"telegram_id": tid, "name": name, "role": "petugas", "areas": ["31.75.03"], "agencies": [], **kw}


def test_config_officers_are_synced_and_cli_officers_kept(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        roster.sync_config(s, [_spec("1"), _spec("2", "Sari", role="lurah")])
        roster.add(s, _spec("3", "Andi"))
    with db.session() as s:
        roster.sync_config(s, [_spec("1", "Budi S."), _spec("3", "Andi (config)")])  # "2" left the config
    with db.session() as s:
        active = {o.identity("telegram"): (o.name, o.source) for o in roster.all_officers(s)}
        assert active == {"1": ("Budi S.", "config"), "3": ("Andi (config)", "config")}
        assert roster.by_identity(s, "telegram", "2") is None
        assert roster.by_identity(s, "telegram", "2", active_only=False).role == "lurah"


def test_removing_deactivates_and_adding_again_reactivates(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        first = roster.add(s, _spec("9", agencies=["dsda"])).id
    with db.session() as s:
        assert roster.remove(s, "telegram", "9") and not roster.remove(s, "telegram", "9")
        assert roster.all_officers(s) == []
    with db.session() as s:
        again = roster.add(s, _spec("9", role="camat"))
        assert again.id == first and again.active and again.role == "camat"


def test_an_officer_is_known_on_every_channel_they_work_from(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        budi = roster.add(s, _spec("7", identities={"pager": "0812"})).id
        assert roster.add(s, {**_spec("", "Budi S."), "telegram_id": None, "identities": {"pager": "0812"}}).id == budi
    with db.session() as s:
        [officer] = roster.all_officers(s)
        assert officer.name == "Budi S." and officer.handles() == "pager:0812"  # the spec is the newer word
        assert roster.by_identity(s, "pager", "0812").id == budi and roster.by_identity(s, "telegram", "7") is None
        # Sari takes over the pager: it is hers now, and Budi keeps what else he has.
        roster.add(s, _spec("8", "Sari", identities={"pager": "0812"}))
        roster.add(s, _spec("7", "Budi"))
    with db.session() as s:
        assert {o.name: o.handles() for o in roster.all_officers(s)} == {
            "Budi": "telegram:7", "Sari": "telegram:8, pager:0812"}
        assert roster.by_identity(s, "pager", "0812").name == "Sari"


def test_an_officer_without_an_identity_is_refused(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s, pytest.raises(ValueError, match="no identity"):
        roster.add(s, {"name": "Nobody", "role": "petugas", "areas": ["31.75"]})


def test_handles_name_the_channel_or_mean_telegram() -> None:
    assert roster.parse_handle("42") == ("telegram", "42")
    assert roster.parse_handle("email:budi@jakarta.go.id") == ("email", "budi@jakarta.go.id")
