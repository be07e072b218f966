"""A channel with an answer window (Meta's 24 hours after the citizen's last message): a reply due later is held,
not sent into a refusal, and goes, first, as soon as the citizen writes again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import update

import bots
from bots import registry
from bots.base import Channel, ChannelSettings
from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Message, Sender
from router import replies
from store import db, ops
from store.models import Citizen, Outbox
from tests.fakes import plain_sender

ADDRESS = Address(channel="plain", chat_id="6281234567890")


@pytest.fixture
def windowed(hub: str, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setitem(bots.BY_NAME, "plain", Channel(name="plain", settings=ChannelSettings, parse="",
                                                       sender="tests.fakes.plain_sender:PlainSender",
                                                       reply_window_hours=24))
    registry.configure({"plain": {}})
    plain_sender.SENT.clear()
    return plain_sender.SENT


def work(conn: redis.Redis) -> None:
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


def citizen_wrote(hours_ago: float) -> None:
    with db.session() as s:
        ops.upsert_citizens(s, [{"channel": "plain", "external_id": ADDRESS.chat_id, "display_name": None,
                                 "username": None, "language": "id"}])
        s.execute(update(Citizen).values(last_seen_at=datetime.now(timezone.utc) - timedelta(hours=hours_ago)))


def reply(text: str) -> None:
    with db.session() as s:
        ids = replies.store(s, [replies.reply(ADDRESS, text, f"k:{text}")])
    replies.enqueue_send(ids)


def statuses() -> list[tuple[str, str | None]]:
    with db.session() as s:
        return [(r.status, r.last_error) for r in s.query(Outbox).order_by(Outbox.id)]


def test_within_the_window_a_reply_goes(windowed: list[dict], redis_conn: redis.Redis) -> None:
    citizen_wrote(hours_ago=23)
    reply("Tiket JKT-2026-000001 sedang ditangani.")
    work(redis_conn)
    assert [m["text"] for m in windowed] == ["Tiket JKT-2026-000001 sedang ditangani."]
    assert statuses() == [("sent", None)]


def test_after_the_window_a_reply_is_held_until_the_citizen_writes(windowed: list[dict], redis_conn: redis.Redis) -> None:
    citizen_wrote(hours_ago=30)
    reply("Tiket JKT-2026-000001 sudah selesai. Apakah sudah beres?")
    work(redis_conn)
    assert windowed == []  # not sent into the channel's refusal (WhatsApp 131047): kept, with the reason
    [(status, why)] = statuses()
    assert status == "held" and "24-hour window" in why
    # The citizen writes again: the held reply goes first, then the answer to what they wrote.
    batch = Batch()
    batch.add(Message(channel="plain", key="plain:m2", sender=Sender(id=ADDRESS.chat_id), address=ADDRESS,
                      text="halo, bagaimana laporan saya?", received_at=datetime.now(timezone.utc)))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)).accept(batch)
    work(redis_conn)
    assert windowed[0]["text"] == "Tiket JKT-2026-000001 sudah selesai. Apakah sudah beres?"
    assert len(windowed) >= 2 and all(status == "sent" for status, _ in statuses())


def test_a_channel_without_a_window_answers_at_any_time(hub: str, monkeypatch: pytest.MonkeyPatch,
                                                        redis_conn: redis.Redis) -> None:
    monkeypatch.setitem(bots.BY_NAME, "plain", Channel(name="plain", settings=ChannelSettings, parse="",
                                                       sender="tests.fakes.plain_sender:PlainSender"))
    registry.configure({"plain": {}})
    plain_sender.SENT.clear()
    citizen_wrote(hours_ago=24 * 30)
    reply("Tiket JKT-2026-000001 ditutup.")
    work(redis_conn)
    assert [m["text"] for m in plain_sender.SENT] == ["Tiket JKT-2026-000001 ditutup."]
