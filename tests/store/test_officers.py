"""The officer roster: config officers synced, CLI officers kept, removal keeps the row."""
from __future__ import annotations

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
        active = {o.telegram_id: (o.name, o.source) for o in roster.all_officers(s)}
        assert active == {"1": ("Budi S.", "config"), "3": ("Andi (config)", "config")}
        assert roster.by_telegram_id(s, "2") is None and roster.by_telegram_id(s, "2", active_only=False).role == "lurah"


def test_removing_deactivates_and_adding_again_reactivates(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        first = roster.add(s, _spec("9", agencies=["dsda"])).id
    with db.session() as s:
        assert roster.remove(s, "9") and not roster.remove(s, "9")
        assert roster.all_officers(s) == []
    with db.session() as s:
        again = roster.add(s, _spec("9", role="camat"))
        assert again.id == first and again.active and again.role == "camat"
