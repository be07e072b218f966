"""`crophub export-examples` and `crophub train --with-confirmed` against a real database (SQLite and PostgreSQL):
the examples learnt from use leave as JSON Lines without personal data, and go into training."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub import cli
from store import db, examples
from store.models import Citizen, Ticket, TicketReporter

PHONE = "0812-3456-7890"


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": db_url, "auto_migrate": False}}), encoding="utf-8")
    return path


@pytest.fixture
def stored(db_url: str) -> None:
    """Two examples: a citizen's pick and an officer's re-categorisation, from reports with personal data in them."""
    db.configure(db_url)
    with db.session() as s:
        siti = Citizen(channel="telegram", external_id="52710031", display_name="Siti Rahma", username="sitirahma_jkt")
        s.add(siti)
        s.flush()
        flood = Ticket(public_id="JKT-2026-000001", citizen_id=siti.id, channel="telegram", category="flood",
                       text=f"air got meluap ke jalan. Siti Rahma, wa {PHONE}, budi@example.com", reply_address={})
        garbage = Ticket(public_id="JKT-2026-000002", channel="waze", category="garbage",
                         text="sampah menumpuk di pinggir kali @sitirahma_jkt", reply_address={})
        s.add_all([flood, garbage])
        s.flush()
        s.add(TicketReporter(ticket_id=flood.id, citizen_id=siti.id, reply_address={"channel": "telegram",
                                                                                     "chat_id": "52710031"},
                             language="id"))
        s.flush()
        examples.add(s, flood, "drainage", "citizen_picked", predicted="flood")
        examples.add(s, garbage, "garbage", "officer", predicted="other", officer_id=None)


@pytest.mark.usefixtures("stored")
def test_export_writes_json_lines_without_personal_data(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "examples.jsonl"
    assert cli.main(["--config", str(config), "export-examples", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [set(r) for r in rows] == [{"text", "category", "source", "created_at"}] * 2
    assert [(r["category"], r["source"]) for r in rows] == [("drainage", "citizen_picked"), ("garbage", "officer")]
    assert rows[0]["text"].startswith("air got meluap ke jalan.") and "+00:00" in rows[0]["created_at"]
    # Without the times: a timestamp's digits may spell "0812" or "3456".
    written = json.dumps([{k: v for k, v in r.items() if k != "created_at"} for r in rows])
    for private in ("Siti", "sitirahma", "0812", "3456", "budi@", "52710031"):
        assert private not in written


@pytest.mark.usefixtures("stored")
def test_train_with_confirmed_passes_the_stored_examples(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nlp import classify

    calls: list[dict[str, Any]] = []

    def train(**kwargs: Any) -> dict[str, object]:
        calls.append(kwargs)
        return {"examples": 1, "seconds": 0.0}

    monkeypatch.setattr(classify, "train", train)
    assert cli.main(["--config", str(config), "train", "--with-confirmed"]) == 0
    assert cli.main(["--config", str(config), "train"]) == 0
    with_confirmed, without = calls
    assert [c for _, c in with_confirmed["extra"]] == ["drainage", "garbage"]
    assert all("0812" not in t and "Siti" not in t for t, _ in with_confirmed["extra"])
    assert list(without.get("extra", ())) == []
