"""`crophub officer add|list|remove` against a config file and a SQLite database."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hub import cli


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({
        "database": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "routing": {"officers": [{"name": "Lurah Bidara Cina", "telegram_id": 555, "role": "lurah",
                                  "areas": ["31.75.03.1001"]}]},
    }), encoding="utf-8")
    return path


def test_add_list_remove(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = lambda *a: cli.main(["--config", str(config), *a])  # noqa: E731
    assert run("migrate") == 0  # applies routing.officers
    assert run("officer", "add", "--name", "Budi Santoso", "--telegram-id", "123", "--area", "31.75.03",
               "--agency", "dsda") == 0
    capsys.readouterr()
    assert run("officer", "list") == 0
    listing = capsys.readouterr().out
    assert "Budi Santoso" in listing and "31.75.03 / dsda" in listing and "Lurah Bidara Cina" in listing
    assert run("officer", "remove", "123") == 0
    assert run("officer", "remove", "123") == 1
    assert "no active officer" in capsys.readouterr().err
    run("officer", "list")
    assert "Budi Santoso" not in capsys.readouterr().out


@pytest.mark.parametrize("args, error", [
    (["--telegram-id", "12", "--agency", "nope"], "unknown agency nope"),
    (["--telegram-id", "@budi", "--area", "31.75"], "telegram_id"),
    (["--telegram-id", "12", "--area", "32.01"], "not a DKI Jakarta area code"),
    (["--telegram-id", "12", "--area", "31.75.03.9999"], "names no area"),
    (["--telegram-id", "12", "--role", "boss", "--area", "31.75"], "role"),
    (["--telegram-id", "12"], "give --area and/or --agency"),
])
def test_bad_officers_are_refused_with_the_reason(config: Path, capsys: pytest.CaptureFixture[str],
                                                  args: list[str], error: str) -> None:
    assert cli.main(["--config", str(config), "officer", "add", "--name", "X", *args]) == 2
    assert error in capsys.readouterr().err


def test_an_officer_gets_a_dashboard_login(config: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from store import accounts, db

    run = lambda *a: cli.main(["--config", str(config), *a])  # noqa: E731
    assert run("migrate") == 0
    monkeypatch.setenv("CROPHUB_NEW_PASSWORD", "pendek")
    assert run("account", "add", "lurah.bc", "--officer", "555") == 2
    assert "at least 10 characters" in capsys.readouterr().err
    assert run("account", "add", "lurah.bc", "--officer", "999") == 2
    assert "no active officer 999" in capsys.readouterr().err
    monkeypatch.setenv("CROPHUB_NEW_PASSWORD", "kali-bersih-2026")
    assert run("account", "add", "Lurah.BC", "--officer", "555") == 0
    assert run("account", "list") == 0
    out = capsys.readouterr().out
    assert "lurah.bc" in out and "Lurah Bidara Cina" in out and "555" in out
    with db.session() as s:
        assert accounts.verify(s, "lurah.bc", "kali-bersih-2026") is not None
        assert accounts.verify(s, "lurah.bc", "kali-kotor-2026") is None
    assert run("account", "remove", "lurah.bc") == 0
    with db.session() as s:
        assert accounts.verify(s, "lurah.bc", "kali-bersih-2026") is None
