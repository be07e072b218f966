"""`crophub failed list|retry|drop` on dead-lettered inbound messages and failed replies, against a real database
(SQLite and PostgreSQL) and Redis."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
import yaml
from rq import Queue

from hub import cli
from ingest.jobs import INTAKE_QUEUE, OUTBOX_QUEUE, PROCESS, SEND
from store import db
from store.models import InboundMessage, Outbox

CHAT_ID = "5550001"  # a citizen's chat: an operator's listing never shows it


@pytest.fixture
def config(tmp_path: Path, db_url: str, redis_server: str, redis_conn: redis.Redis) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"database": {"url": db_url, "auto_migrate": False},
                                    "redis": {"url": redis_server}}), encoding="utf-8")
    return path


@pytest.fixture
def rows(db_url: str) -> dict[str, int]:
    """Two dead-lettered messages, one processed; two failed replies, one sent → ids by name."""
    db.configure(db_url)
    now = datetime.now(timezone.utc)
    with db.session() as s:
        made = {
            "poison": InboundMessage(channel="telegram", key="1", status="failed", message=None, raw={},
                                     reason=f"gave up after 5 tries; last error: chat {CHAT_ID} ValueError",
                                     received_at=now - timedelta(hours=3)),
            "broken": InboundMessage(channel="webchat", key="2", status="failed", message=None, raw={},
                                     reason="UnicodeEncodeError: surrogates not allowed",
                                     received_at=now - timedelta(minutes=5)),
            "fine": InboundMessage(channel="telegram", key="3", status="processed", message=None, raw={}),
            "blocked": Outbox(dedupe_key="a", channel="telegram", chat_key=f"telegram:{CHAT_ID}",
                              address={"chat_id": CHAT_ID}, text="Laporan diterima", status="failed", attempts=6,
                              last_error="Forbidden: bot was blocked by the user", created_at=now - timedelta(hours=1)),
            "lost": Outbox(dedupe_key="b", channel="email", chat_key="email:budi@example.com",
                           address={"to": "budi@example.com"}, text="ok", status="failed", attempts=6,
                           last_error="SMTP 451", created_at=now - timedelta(days=2)),
            "sent": Outbox(dedupe_key="c", channel="telegram", chat_key=f"telegram:{CHAT_ID}", address={}, text="ok",
                           status="sent"),
        }
        if hasattr(InboundMessage, "attempts"):
            made["poison"].attempts = 5  # type: ignore[attr-defined]
        s.add_all(made.values())
        s.flush()
        return {name: row.id for name, row in made.items()}


def run(config: Path, *args: str) -> int:
    return cli.main(["--config", str(config), "failed", *args])


def inbound(id_: int) -> InboundMessage:
    with db.session() as s:
        return s.get_one(InboundMessage, id_)


def reply(id_: int) -> Outbox:
    with db.session() as s:
        return s.get_one(Outbox, id_)


def jobs(conn: redis.Redis, queue: str) -> list[tuple[str, list[int]]]:
    return [(job.func_name, job.args[0]) for job in Queue(queue, connection=conn).get_jobs()]


def test_list_shows_ids_channels_ages_and_reasons_without_chats(config: Path, rows: dict[str, int],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "list") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 5, out  # a header, two messages, two replies
    poison = next(line for line in lines if line.split()[:2] == ["inbound", str(rows["poison"])])
    assert "telegram" in poison and "3h" in poison and "gave up after 5 tries" in poison
    blocked = next(line for line in lines if line.split()[:2] == ["reply", str(rows["blocked"])])
    assert "blocked by the user" in blocked and "1h" in blocked
    assert CHAT_ID not in out and "budi@example.com" not in out and "Laporan" not in out
    assert run(config, "list", "--replies") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["reply", "reply"]
    assert run(config, "list", "--inbound") == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["inbound", "inbound"]


def test_retry_puts_messages_back_and_enqueues_them_one_per_job(config: Path, rows: dict[str, int],
                                                                redis_conn: redis.Redis,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # An id that is not a failed one is said (exit 1); the others are retried all the same.
    assert run(config, "retry", "--inbound", str(rows["poison"]), str(rows["fine"])) == 1
    said = capsys.readouterr()
    assert "retried 1 message(s)" in said.out and f"not failed (or not there): {rows['fine']}" in said.err
    row = inbound(rows["poison"])
    assert row.status == "received" and row.reason is None and getattr(row, "attempts", 0) == 0
    assert inbound(rows["fine"]).status == "processed"  # only failed ones are touched
    assert inbound(rows["broken"]).status == "failed"
    assert jobs(redis_conn, INTAKE_QUEUE) == [(PROCESS.name, [rows["poison"]])]
    assert jobs(redis_conn, OUTBOX_QUEUE) == []


def test_retry_all_replies_resets_their_attempts_and_enqueues_a_send(config: Path, rows: dict[str, int],
                                                                     redis_conn: redis.Redis) -> None:
    assert run(config, "retry", "--replies", "--all") == 0
    for name in ("blocked", "lost"):
        row = reply(rows[name])
        assert (row.status, row.attempts, row.last_error) == ("pending", 0, None)
    assert reply(rows["sent"]).status == "sent"
    assert jobs(redis_conn, OUTBOX_QUEUE) == [(SEND.name, sorted([rows["blocked"], rows["lost"]]))]
    assert inbound(rows["poison"]).status == "failed"


def test_retry_all_of_both_kinds(config: Path, rows: dict[str, int], redis_conn: redis.Redis) -> None:
    assert run(config, "retry", "--all") == 0
    assert {inbound(rows[n]).status for n in ("poison", "broken")} == {"received"}
    assert {reply(rows[n]).status for n in ("blocked", "lost")} == {"pending"}
    assert len(jobs(redis_conn, INTAKE_QUEUE)) == 2 and len(jobs(redis_conn, OUTBOX_QUEUE)) == 1


def test_drop_keeps_the_row_as_dropped_and_it_leaves_the_list(config: Path, rows: dict[str, int],
                                                               redis_conn: redis.Redis,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "drop", "--inbound", str(rows["broken"])) == 0
    assert run(config, "drop", "--replies", "--all") == 0
    assert inbound(rows["broken"]).status == "dropped" and inbound(rows["poison"]).status == "failed"
    assert {reply(rows[n]).status for n in ("blocked", "lost")} == {"dropped"}
    assert reply(rows["blocked"]).last_error == "Forbidden: bot was blocked by the user"  # kept for the record
    capsys.readouterr()
    assert run(config, "list") == 0
    listed = capsys.readouterr().out.splitlines()[1:]
    assert [line.split()[:2] for line in listed] == [["inbound", str(rows["poison"])]]
    assert jobs(redis_conn, INTAKE_QUEUE) == [] and jobs(redis_conn, OUTBOX_QUEUE) == []
    # Dropped is final: a retry finds nothing to do.
    assert run(config, "retry", "--inbound", str(rows["broken"])) == 1


@pytest.mark.parametrize("args, error", [
    (["retry"], "give ids or --all"),
    (["retry", "3"], "--inbound or --replies"),
    (["drop", "--all", "3"], "ids or --all, not both"),
])
def test_unclear_requests_are_refused(config: Path, rows: dict[str, int], capsys: pytest.CaptureFixture[str],
                                      args: list[str], error: str) -> None:
    assert run(config, *args) == 2
    assert error in capsys.readouterr().err
    assert inbound(rows["poison"]).status == "failed"


def test_nothing_failed(config: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, "list") == 0
    assert "nothing failed" in capsys.readouterr().out
