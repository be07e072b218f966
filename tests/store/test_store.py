"""Store tests, run on SQLite and on PostgreSQL (the db_url fixture is parametrised over both)."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from store import db, migrate, officers, ops
from store.db import make_engine
from store.models import Base, Citizen, InboundMessage, Outbox, Question, Ticket, TicketReporter, utcnow


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
    person = {"channel": "telegram", "external_id": "42", "display_name": "Siti", "username": "siti", "language": "id"}
    with db.session() as s:
        first = ops.upsert_citizens(s, [person])
        again = ops.upsert_citizens(s, [{**person, "display_name": "Siti R."}, {**person, "external_id": "43"}])
        citizen_id = first[("telegram", "42")]
        assert again[("telegram", "42")] == citizen_id and again[("telegram", "43")] != citizen_id
        assert s.get(Citizen, citizen_id, populate_existing=True).display_name == "Siti R."  # type: ignore[union-attr]
        ticket = {"citizen_id": citizen_id, "channel": "telegram", "text": "banjir", "language": "id",
                  "reply_address": {"channel": "telegram", "chat_id": "42"}}
        (t1, p1), (t2, p2) = ops.create_tickets(s, "JKT", [ticket, {**ticket, "text": "sampah"}])
        ops.add_events(s, [{"ticket_id": t1, "kind": "created", "actor": "citizen:42", "data": {"category": "flood"}}])
    year = utcnow().year
    assert p1 == f"JKT-{year}-{t1:06d}" and t2 > t1 and p2 == f"JKT-{year}-{t2:06d}"
    with db.session() as s:
        assert ops.ticket_by_public_id(s, p1.lower()).id == t1  # type: ignore[union-attr]
        assert [e.kind for e in ops.events_of(s, t1)] == ["created"]
        assert ops.recent_open_ticket(s, citizen_id, utcnow() - timedelta(minutes=5)).id == t2  # type: ignore[union-attr]
        assert [t.id for t in ops.tickets_of_citizen(s, citizen_id)] == [t2, t1]


def test_long_names_are_clipped_to_fit(db_url: str) -> None:
    db.configure(db_url)
    with db.session() as s:
        ids = ops.upsert_citizens(s, [{"channel": "telegram", "external_id": "9", "display_name": "x" * 400,
                                       "username": None, "language": "en-US-long-tag"}])
        citizen = s.get_one(Citizen, ids[("telegram", "9")])
    assert len(citizen.display_name or "") == 255 and citizen.language == "en-US-lo"


def test_outbox_is_unique_per_event_and_ordered_per_chat(db_url: str) -> None:
    db.configure(db_url)
    addr = {"channel": "telegram", "chat_id": "42"}

    def row(key: str, chat: str, text: str) -> dict:
        return {"dedupe_key": key, "channel": "telegram", "chat_key": chat, "address": addr, "text": text}

    with db.session() as s:
        a, b, c = ops.add_outboxes(s, [row("reply:1", "telegram::42", "a"), row("reply:2", "telegram::42", "b"),
                                       row("reply:3", "telegram::7", "c")])
        assert ops.add_outboxes(s, [row("reply:1", "telegram::42", "a")]) == []
    lease = utcnow() + timedelta(minutes=3)
    with db.session() as s:
        assert ops.outbox_chats(s, [a, b, c]) == {"telegram::42": b, "telegram::7": c}
        taken = ops.claim_outbox(s, {"telegram::42": a}, lease)
        assert [r.text for r in taken["telegram::42"][0]] == ["a"] and taken["telegram::42"][1] is None
    with db.session() as s:  # "a" is taken: a second sender gets nothing of that chat (not "b" before it)
        taken = ops.claim_outbox(s, {"telegram::42": b, "telegram::7": c}, lease)
        assert taken["telegram::42"][0] == [] and taken["telegram::42"][1] == lease
        assert [r.text for r in taken["telegram::7"][0]] == ["c"]
        ops.mark_outboxes(s, [{"id": a, "status": "sent", "attempts": 1, "not_before": None},
                              {"id": c, "attempts": 1, "last_error": "x", "not_before": None}])
    with db.session() as s:
        assert [r.text for r in ops.claim_outbox(s, {"telegram::42": b}, lease)["telegram::42"][0]] == ["b"]
        assert s.get_one(Outbox, c).status == "pending" and s.get_one(Outbox, c).last_error == "x"


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
        ops.add_outboxes(s, [{"dedupe_key": "reply:e1", "channel": "telegram", "chat_key": "telegram::1",
                              "address": {"channel": "telegram", "chat_id": "1"}, "text": "x", "created_at": old}])
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


def test_a_database_with_tickets_migrates_from_0002_to_the_newest(db_url: str) -> None:
    """Upgrades meet filled tables: SQLite rebuilds `tickets` while events and reporters point at it."""
    migrate.downgrade(db_url, "0002")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        now = utcnow()
        conn.execute(Citizen.__table__.insert().values(id=1, channel="telegram", external_id="42", created_at=now,
                                                       last_seen_at=now))
        conn.execute(Ticket.__table__.insert().values(
            id=1, public_id="JKT-2026-000001", citizen_id=1, channel="telegram", text="banjir", language="id",
            reply_address={}, status="open", created_at=now, updated_at=now, sla_paused_seconds=0, sla_level=0))
        conn.execute(TicketReporter.__table__.insert().values(ticket_id=1, citizen_id=1, reply_address={}, language="id",
                                                              joined_at=now))
    engine.dispose()
    migrate.upgrade(db_url)
    assert migrate.is_current(db_url)
    db.configure(db_url)
    with db.session() as s:
        ticket = s.get(Ticket, 1)
        assert ticket is not None and ticket.citizen_id == 1 and ticket.public_id == "JKT-2026-000001"


def test_only_deadlocks_and_lock_waits_are_worth_retrying() -> None:
    import sqlite3

    import psycopg
    from sqlalchemy.exc import OperationalError

    class Deadlock(psycopg.OperationalError):
        sqlstate = "40P01"

    class Cancelled(psycopg.OperationalError):
        sqlstate = "57014"  # statement_timeout: it would time out again

    def wrapped(orig: Exception) -> OperationalError:
        return OperationalError("UPDATE ...", {}, orig)

    assert db.is_transient(wrapped(Deadlock()))
    assert db.is_transient(wrapped(sqlite3.OperationalError("database is locked")))
    assert not db.is_transient(wrapped(Cancelled()))
    assert not db.is_transient(wrapped(sqlite3.OperationalError("no such table: tickets")))
    assert not db.is_transient(ValueError("locked"))



def test_a_ticket_waiting_for_its_place_before_the_questions_gets_its_question(db_url: str) -> None:
    from datetime import datetime, timezone

    from sqlalchemy import create_engine, text

    from store import migrate as migrations

    migrations.downgrade(db_url, "0005")  # a hub as it ran before questions were stored
    engine = create_engine(db_url)
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        citizen = conn.execute(text("INSERT INTO citizens (channel, external_id, created_at, last_seen_at) "
                                    "VALUES ('telegram', '52710031', :now, :now) RETURNING id"), {"now": now}).scalar()
        conn.execute(text("INSERT INTO tickets (public_id, citizen_id, channel, text, language, reply_address, status, "
                          "created_at, updated_at, sla_paused_seconds, sla_level) VALUES ('JKT-2026-000001', :c, "
                          "'telegram', 'banjir', 'id', :address, 'needs_info', :now, :now, 0, 0)"),
                     {"c": citizen, "now": now, "address": json.dumps({"channel": "telegram", "chat_id": "52710031",
                                                                       "bot": "123"})})
    engine.dispose()
    migrations.upgrade(db_url)
    db.configure(db_url)
    with db.session() as s:
        [question] = s.scalars(select(Question)).all()
        assert (question.kind, question.status, question.chat_key) == ("place", "open", "telegram:123:52710031")
        assert question.expires_at > now  # it can still be answered, then the sweep sends the ticket on


def test_officers_keep_who_they_are_across_the_identities_migration(db_url: str) -> None:
    """0009 moves each officer's Telegram id into officer_identities (an assigned ticket and a login point at
    the officer meanwhile), and going back puts it where it was."""
    from sqlalchemy import text

    migrate.downgrade(db_url, "0008")
    engine = make_engine(db_url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO officers (id, name, telegram_id, role, areas, agencies, source, active, created_at, "
                          "updated_at) VALUES (7, 'Budi', '123456789', 'petugas', '[]', '[]', 'config', :t, :now, :now)"),
                     {"now": now, "t": True})
        conn.execute(Citizen.__table__.insert().values(id=1, channel="telegram", external_id="42", created_at=now,
                                                       last_seen_at=now))
        conn.execute(Ticket.__table__.insert().values(
            id=1, public_id="JKT-2026-000001", citizen_id=1, channel="telegram", text="banjir", language="id",
            reply_address={}, status="assigned", created_at=now, updated_at=now, sla_paused_seconds=0, sla_level=0,
            assigned_officer_id=7))
    engine.dispose()
    migrate.upgrade(db_url)
    db.configure(db_url)
    with db.session() as s:
        officer = officers.by_identity(s, "telegram", "123456789")
        assert officer is not None and officer.id == 7 and officer.handles() == "telegram:123456789"
        assert s.get(Ticket, 1).assigned_officer_id == 7
        officers.add(s, {"name": "Sari", "identities": {"pager": "0812"}, "role": "petugas", "areas": ["31.75"]})
    migrate.downgrade(db_url, "0008")
    engine = make_engine(db_url)
    with engine.begin() as conn:
        rows = dict(conn.execute(text("SELECT name, telegram_id FROM officers")).all())
    engine.dispose()
    assert rows["Budi"] == "123456789" and rows["Sari"].startswith("-")  # no Telegram id: a placeholder
    migrate.upgrade(db_url)
    with db.session() as s:
        assert {o.name: o.handles() for o in officers.all_officers(s)} == {"Budi": "telegram:123456789", "Sari": ""}


def test_a_ticket_s_telegram_photo_says_which_channel_and_bot_hold_it(db_url: str) -> None:
    """0010: a bare Telegram file id on a ticket becomes a reference with its channel and bot; others stay."""
    migrate.downgrade(db_url, "0009")
    engine = make_engine(db_url)
    now = utcnow()
    kept = "media:sha256:" + "ab" * 32
    with engine.begin() as conn:
        conn.execute(Citizen.__table__.insert().values(id=1, channel="telegram", external_id="42", created_at=now,
                                                       last_seen_at=now))
        for n, (channel, bot, photo, done) in enumerate([("telegram", "777", "AgAC-1", "AgAC-2"),
                                                         ("email", None, kept, None),
                                                         ("twitter", None, "AgAC-3", None)], start=1):
            conn.execute(Ticket.__table__.insert().values(
                id=n, public_id=f"JKT-2026-00000{n}", citizen_id=1, channel=channel, text="banjir", language="id",
                reply_address={"channel": channel, "chat_id": "42", "bot": bot}, status="open", created_at=now,
                updated_at=now, sla_paused_seconds=0, sla_level=0, photo_file_id=photo, resolution_photo_file_id=done))
    engine.dispose()
    migrate.upgrade(db_url)
    db.configure(db_url)
    with db.session() as s:
        photos = {t.id: (t.photo_file_id, t.resolution_photo_file_id) for t in s.scalars(select(Ticket))}
    assert photos == {1: ("telegram:file:777:AgAC-1", "telegram:file:777:AgAC-2"), 2: (kept, None),
                      3: ("telegram:file::AgAC-3", None)}  # a Telegram photo joined to a tweet's ticket: bot unknown
    migrate.downgrade(db_url, "0009")
    migrate.upgrade(db_url)
