"""A citizen's language holds through a conversation: a message that says nothing of its language ("/status JKT-…",
a ticket number) is answered in the language the citizen reported in, not in the browser's or app's language; and
the status question is understood when asked in words ("cek status JKT-…"), as SMS and WhatsApp users ask it."""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

import bots
from bots import registry
from bots.base import Channel, ChannelSettings
from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Message, Sender
from nlp.lang import detect, undecided
from router import commands
from store import db
from store.models import Ticket
from tests.fakes import plain_sender

ADDRESS = Address(channel="plain", chat_id="warga-42")
_keys = itertools.count(1)


@pytest.fixture
def sent(hub: str, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setitem(bots.BY_NAME, "plain", Channel(name="plain", settings=ChannelSettings, parse="",
                                                       sender="tests.fakes.plain_sender:PlainSender"))
    registry.configure({"plain": {}})
    plain_sender.SENT.clear()
    return plain_sender.SENT


def says(conn: redis.Redis, sent: list[dict], text: str, hint: str = "en") -> str:
    """The citizen (whose browser says English) writes `text`; → the last reply."""
    before = len(sent)
    msg = Message(channel="plain", key=f"lang-{next(_keys)}", sender=Sender(id=ADDRESS.chat_id), address=ADDRESS,
                  text=text, command=text.split()[0].lower() if text.startswith("/") else None, language_hint=hint,
                  received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    SimpleWorker([Queue(n, connection=conn) for n in (OUTBOX_QUEUE, INTAKE_QUEUE)], connection=conn).work(
        burst=True, logging_level="WARNING")
    assert len(sent) > before
    return str(sent[-1]["text"])


def test_a_command_keeps_the_language_of_the_report(sent: list[dict], redis_conn: redis.Redis) -> None:
    ack = says(redis_conn, sent, "Banjir setinggi lutut di depan rumah saya, tolong dibantu")
    with db.session() as s:
        public_id = s.scalars(select(Ticket.public_id)).one()
    assert "Terima kasih" in ack
    for asked in (f"/status {public_id}", "/status", f"cek status {public_id}", f"Status tiket {public_id.lower()}?",
                  f"cek {public_id}"):
        answer = says(redis_conn, sent, asked)
        assert public_id in answer and "Ticket" not in answer and "Your" not in answer, (asked, answer)


def test_english_reports_get_english_status_answers(sent: list[dict], redis_conn: redis.Redis) -> None:
    says(redis_conn, sent, "There is a flood in front of my house, the water is knee deep please help")
    with db.session() as s:
        public_id = s.scalars(select(Ticket.public_id)).one()
    assert "Ticket" in says(redis_conn, sent, f"/status {public_id}", hint="id")


@pytest.mark.parametrize("text, command", [
    ("cek status JKT-2026-000123", "/status JKT-2026-000123"), ("status jkt-2026-000123", "/status JKT-2026-000123"),
    ("Cek laporan JKT-2026-000123.", "/status JKT-2026-000123"), ("cek status", "/status"),
    ("status banjir di jalan", None), ("cek saluran got mampet", None), ("cek status 12", None),
    ("tolong cek status JKT-2026-000123", None),
])
def test_the_status_question_in_words(text: str, command: str | None) -> None:
    assert commands.spoken(text) == command


def test_a_message_without_language_words_keeps_the_earlier_language() -> None:
    assert undecided("/status JKT-2026-000123") and not undecided("the flood")
    assert detect("/status JKT-2026-000123", "en", "id") == "id"
    assert detect("/status JKT-2026-000123", "en") == "en"  # nothing earlier: the channel's hint
    assert detect("there is a flood near my house", "id", "id") == "en"  # words decide over the past
