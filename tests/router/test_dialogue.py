"""Questions to the citizen on a channel without buttons: a numbered menu out, a bare number back in."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import redis
from rq import Queue, SimpleWorker

import bots
from bots import registry
from bots.base import Channel, ChannelSettings
from ingest.intake import OUTBOX_QUEUE
from ingest.message import Address, Message, Sender
from router import dialogue, replies
from store import db
from tests.fakes import plain_sender

ADDRESS = Address(channel="plain", chat_id="warga@example.org")


@pytest.fixture
def plain(hub: str, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setitem(bots.BY_NAME, "plain", Channel(name="plain", settings=ChannelSettings, parse="",
                                                       sender="tests.fakes.plain_sender:PlainSender"))
    registry.configure({"plain": {}})
    plain_sender.SENT.clear()
    return plain_sender.SENT


def _message(text: str, reply_to: str | None = None) -> Message:
    return Message(channel="plain", key=f"k-{text}", sender=Sender(id="warga@example.org"), address=ADDRESS,
                   text=text, reply_to=reply_to, received_at=datetime.now(timezone.utc))


def test_a_menu_is_numbered_and_a_number_answers_it(plain: list[dict], redis_conn: redis.Redis) -> None:
    extras = dialogue.confirm_extras("JKT-2026-000007", "drainage", ("flood", "garbage"), "id")
    with db.session() as s:
        ids = replies.store(s, [replies.reply(ADDRESS, "Tiket JKT-2026-000007 diterima.", "q1", extras=extras)])
    replies.enqueue_send(ids)
    SimpleWorker([Queue(OUTBOX_QUEUE, connection=redis_conn)], connection=redis_conn).work(burst=True)
    [sent] = plain
    assert sent["text"] == ("Tiket JKT-2026-000007 diterima.\n\nBalas dengan angka pilihan Anda:\n"
                            "1. ✅ saluran air / got\n2. banjir / genangan\n3. sampah")

    with db.session() as s:
        chosen = dialogue.resolve_number(s, _message("2"))
        assert chosen.text == "/kategori JKT-2026-000007 flood" and chosen.command == "/kategori"
        assert dialogue.resolve_number(s, _message("7")).text == "7"  # no such item: left as it is
        assert dialogue.resolve_number(s, _message("banjir lagi")).text == "banjir lagi"
