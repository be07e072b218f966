"""Store tests, run on SQLite and on PostgreSQL (the db_url fixture is parametrised over both)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from store import db, migrate, ops
from store.db import make_engine
from store.models import Base, InboundMessage, Outbox, Ticket, utcnow


def _row(key: str, status: str = "received") -> dict:
    return {"channel": "telegram", "key": key, "status": status, "message": {"text": key}, "raw": {"k": key},
            "received_at": utcnow()}


def test_migrations_match_the_models(db_url: str) -> None:
    assert migrate.is_current(db_url)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
    engine.dispose()


def test_migrations_go_down_and_up_again(db_url: str) -> None:
    migrate.downgrade(db_url, "base")
    assert not migrate.is_current(db_url)
    migrate.upgrade(db_url)
    assert migrate.is_current(db_url)


def test_inbound_is_unique_per_channel_and_key(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        first = ops.save_inbound(s, [_row("b:1"), _row("b:2"), _row("b:3", "rejected")])
    with db.session() as s:
        again = ops.save_inbound(s, [_row("b:1"), _row("b:2"), _row("b:4")])
        other_channel = ops.save_inbound(s, [{**_row("b:1"), "channel": "twitter"}])
    assert len(first) == 2  # the rejected row is stored but is not work to do
    assert len(again) == 1 and len(other_channel) == 1
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 5
        raw = s.scalars(select(InboundMessage.raw).where(InboundMessage.key == "b:3")).one()
        assert raw == {"k": "b:3"}


def test_a_message_is_claimed_once(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        ids = ops.save_inbound(s, [_row("c:1"), _row("c:2")])
    with db.session() as s:
        claimed = ops.claim_inbound(s, ids)
    with db.session() as s:
        assert ops.claim_inbound(s, ids) == []
    assert [i for i, _ in claimed] == ids and claimed[0][1] == {"text": "c:1"}


def test_a_rolled_back_claim_can_be_claimed_again(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        ids = ops.save_inbound(s, [_row("d:1")])
    with pytest.raises(RuntimeError):
        with db.session() as s:
            assert ops.claim_inbound(s, ids)
            raise RuntimeError("worker died mid-job")
    with db.session() as s:
        assert [i for i, _ in ops.claim_inbound(s, ids)] == ids


def test_citizen_tickets_events_and_public_ids(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        citizen = ops.upsert_citizen(s, "telegram", "42", "Siti", "siti", "id")
        again = ops.upsert_citizen(s, "telegram", "42", "Siti R.", "siti", "id")
        assert again.id == citizen.id and again.display_name == "Siti R."
        t1 = ops.create_ticket(s, "JKT", citizen_id=citizen.id, channel="telegram", text="banjir",
                               reply_address={"channel": "telegram", "chat_id": "42"}, status="open")
        t2 = ops.create_ticket(s, "JKT", citizen_id=citizen.id, channel="telegram", text="sampah",
                               reply_address={"channel": "telegram", "chat_id": "42"}, status="open")
        ops.add_event(s, t1.id, "created", "citizen:42", {"category": "flood"})
    year = utcnow().year
    assert t1.public_id == f"JKT-{year}-{t1.id:06d}" and t2.id > t1.id
    with db.session() as s:
        assert ops.ticket_by_public_id(s, t1.public_id.lower()).id == t1.id  # type: ignore[union-attr]
        assert [e.kind for e in ops.events_of(s, t1.id)] == ["created"]
        assert ops.recent_open_ticket(s, citizen.id, utcnow() - timedelta(minutes=5)).id == t2.id  # type: ignore[union-attr]
        assert [t.id for t in ops.tickets_of_citizen(s, citizen.id)] == [t2.id, t1.id]


def test_outbox_is_unique_per_event_and_ordered_per_chat(db_url: str) -> None:
    db.configure(db_url)
    addr = {"channel": "telegram", "chat_id": "42"}
    with db.session() as s:
        a = ops.add_outbox(s, dedupe_key="reply:1", channel="telegram", chat_key="telegram::42", address=addr, text="a")
        dup = ops.add_outbox(s, dedupe_key="reply:1", channel="telegram", chat_key="telegram::42", address=addr, text="a")
        b = ops.add_outbox(s, dedupe_key="reply:2", channel="telegram", chat_key="telegram::42", address=addr, text="b")
        c = ops.add_outbox(s, dedupe_key="reply:3", channel="telegram", chat_key="telegram::7", address=addr, text="c")
    assert dup is None and a and b and c
    with db.session() as s:
        assert ops.outbox_chats(s, [a, b, c]) == {"telegram::42": b, "telegram::7": c}
        assert [r.text for r in ops.pending_in_chat(s, "telegram::42", b)] == ["a", "b"]
        ops.mark_outbox(s, a, status="sent")
    with db.session() as s:
        assert [r.text for r in ops.pending_in_chat(s, "telegram::42", b)] == ["b"]


def test_cursor_round_trip(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        assert ops.get_cursor(s, "telegram:1:offset") is None
        ops.set_cursor(s, "telegram:1:offset", "10")
    with db.session() as s:
        ops.set_cursor(s, "telegram:1:offset", "11")
    with db.session() as s:
        assert ops.get_cursor(s, "telegram:1:offset") == "11"


def test_stale_rows_are_found_for_the_sweep(db_url: str) -> None:
    db.configure(db_url)
    old = utcnow() - timedelta(minutes=10)
    with db.session() as s:
        ids = ops.save_inbound(s, [{**_row("e:1"), "received_at": old}, _row("e:2")])
        ops.add_outbox(s, dedupe_key="reply:e1", channel="telegram", chat_key="telegram::1",
                       address={"channel": "telegram", "chat_id": "1"}, text="x", created_at=old)
    with db.session() as s:
        assert ops.stale_inbound(s, timedelta(minutes=1)) == ids[:1]
        assert len(ops.stale_outbox(s, timedelta(minutes=1))) == 1


def test_ticket_requires_a_citizen(db_url: str) -> None:
    db.configure(db_url)
    with pytest.raises(IntegrityError):
        with db.session() as s:
            s.add(Ticket(citizen_id=999999, channel="telegram", text="x", reply_address={}, status="open",
                         language="id"))
            s.flush()
