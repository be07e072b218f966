"""Messenger's delivery and read receipts kept on our replies (SQLite and PostgreSQL): replies sent by the real outbox
and sender to the fake Send API, then `message_deliveries` and `message_reads` events signed and posted to the real
webhook. A delivery names mids, or only a watermark; a read always only a watermark: every message sent to that person
at or before it has been read."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, SimpleWorker
from sqlalchemy import select

from bots import registry
from bots.messenger import webhook
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store.models import InboundMessage, Outbox
from tests.fakes import messenger_api as meta
from tests.fakes.messenger_api import APP_SECRET, VERIFY_TOKEN, FakeGraphAPI

SITI, RUDI = "7123456789012345", "6987654321098765"  # two citizens' PSIDs
PATH = "/messenger/webhook"



@pytest.fixture
async def hook(db_url: str, redis_conn: redis.Redis, graph_server: FakeGraphAPI,
               monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TestClient]:
    """The webhook, and this process wired as a worker that answers on Messenger."""
    graph_server.reset()
    db.configure(db_url)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"messenger": graph_server.config(monkeypatch)})
    app = web.Application()
    webhook.route(app, PATH, VERIFY_TOKEN, APP_SECRET, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    try:
        async with TestClient(TestServer(app)) as client:
            yield client
    finally:
        registry.configure({})


async def meta_posts(hook: TestClient, *events: dict[str, Any], page_id: str = meta.PAGE_ID) -> None:
    body = meta.body_of(meta.notification(*events, page_id=page_id))
    resp = await hook.post(PATH, data=body, headers=meta.signed(body))
    assert resp.status == 200


async def writes(hook: TestClient, conn: redis.Redis, psid: str, text: str) -> list[Outbox]:
    """A citizen writes; the worker answers through the fake Send API. → the replies to them, oldest first."""
    await meta_posts(hook, meta.message(psid, text))
    SimpleWorker([Queue(n, connection=conn) for n in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)],
                 connection=conn).work(burst=True, logging_level="WARNING")
    found = replies(psid)
    assert found and all(r.status == "sent" and r.provider_message_id and r.sent_at for r in found)
    return found


def replies(psid: str) -> list[Outbox]:
    with db.session() as s:
        return list(s.scalars(select(Outbox).where(Outbox.channel == "messenger", Outbox.chat_key.endswith(f":{psid}"))
                              .order_by(Outbox.id)))


def marks(psid: str) -> list[tuple[datetime | None, datetime | None]]:
    return [(r.delivered_at, r.read_at) for r in replies(psid)]


def ms(at: datetime | None) -> int:
    """The first whole millisecond at or after `at` (Meta's watermarks are milliseconds)."""
    assert at is not None
    return math.ceil(at.timestamp() * 1000)


def time_of(watermark: int) -> datetime:
    return datetime.fromtimestamp(watermark / 1000, timezone.utc)


def read_at(event: dict[str, Any]) -> datetime:
    """When a read event says the messages were read: its own time (never before its watermark)."""
    return time_of(max(event["timestamp"], event["read"]["watermark"]))


REPORT = "Banjir setinggi lutut di Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"


async def two_conversations(hook: TestClient, conn: redis.Redis) -> tuple[list[Outbox], list[Outbox], int]:
    """Siti is answered twice, a moment apart. → the first answers, the later ones, and a watermark between them."""
    first = await writes(hook, conn, SITI, "Banjir setinggi lutut depan rumah")
    later = (await writes(hook, conn, SITI, "Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"))[len(first):]
    watermark = ms(first[-1].sent_at)
    assert later and watermark < ms(later[0].sent_at) - 1
    return first, later, watermark


async def test_a_delivery_naming_a_mid_marks_that_reply_delivered(hook: TestClient, redis_conn: redis.Redis) -> None:
    [ack] = await writes(hook, redis_conn, SITI, REPORT)
    assert marks(SITI) == [(None, None)]
    # Named by its mid, with a watermark from before it was sent (so only the mid can have found it).
    before = ms(ack.sent_at) - 60_000
    await meta_posts(hook, meta.delivery(SITI, before, mids=[ack.provider_message_id or ""]))
    assert marks(SITI) == [(time_of(before), None)]
    with db.session() as s:  # the event itself is kept, once, for the record
        assert s.scalars(select(InboundMessage.reason).where(InboundMessage.status == "ignored")).all() == [
            "delivery receipt"]


async def test_a_delivery_watermark_marks_every_reply_sent_up_to_it(hook: TestClient, redis_conn: redis.Redis) -> None:
    first, later, watermark = await two_conversations(hook, redis_conn)
    await meta_posts(hook, meta.delivery(SITI, watermark))  # no mids: Meta says they "may not be present"
    assert marks(SITI) == [(time_of(watermark), None)] * len(first) + [(None, None)] * len(later)


async def test_a_read_watermark_marks_replies_sent_before_it_read_and_not_those_after(
        hook: TestClient, redis_conn: redis.Redis) -> None:
    first, later, watermark = await two_conversations(hook, redis_conn)
    event = meta.read(SITI, watermark)
    await meta_posts(hook, event)
    seen = read_at(event)  # read at the event's time; read implies delivered
    assert marks(SITI) == [(seen, seen)] * len(first) + [(None, None)] * len(later)
    # She reads on: the later ones are read too, the first keep their time.
    more = meta.read(SITI, ms(later[-1].sent_at))
    await meta_posts(hook, more)
    assert marks(SITI) == [(seen, seen)] * len(first) + [(read_at(more),) * 2] * len(later)


async def test_a_receipt_for_another_chat_changes_nothing(hook: TestClient, redis_conn: redis.Redis) -> None:
    await writes(hook, redis_conn, SITI, REPORT)
    rudi = await writes(hook, redis_conn, RUDI, REPORT)
    after_all = ms(rudi[-1].sent_at) + 1000
    await meta_posts(hook, meta.delivery(RUDI, after_all), meta.read(RUDI, after_all))
    assert all(d is not None and r is not None for d, r in marks(RUDI))
    assert all(mark == (None, None) for mark in marks(SITI))
    # Siti's PSID on another Page is another person: nothing of ours either.
    other = "999000111222333"
    await meta_posts(hook, meta.delivery(SITI, after_all, page_id=other), meta.read(SITI, after_all, page_id=other),
                     page_id=other)
    assert all(mark == (None, None) for mark in marks(SITI))


async def test_receipts_delivered_again_or_later_change_nothing_more(hook: TestClient, redis_conn: redis.Redis) -> None:
    [ack] = await writes(hook, redis_conn, SITI, REPORT)
    delivery = meta.delivery(SITI, ms(ack.sent_at) + 5, mids=[ack.provider_message_id or ""])
    read = meta.read(SITI, ms(ack.sent_at) + 10)
    await meta_posts(hook, delivery, read)
    once = marks(SITI)
    assert once == [(time_of(ms(ack.sent_at) + 5), read_at(read))]
    await meta_posts(hook, delivery, read)  # Meta delivers the same POST again
    later = ms(ack.sent_at) + 60_000
    await meta_posts(hook, meta.delivery(SITI, later), meta.read(SITI, later))  # and newer watermarks come
    assert marks(SITI) == once  # the first times stay


async def test_a_watermark_at_metas_own_time_of_a_reply_covers_it(hook: TestClient, graph_server: FakeGraphAPI,
                                                                   redis_conn: redis.Redis) -> None:
    """Meta stamps a message while taking it, before its answer is back with us: a reply is sent when the call
    began, or a watermark at that stamp (the last message read) would miss the very reply it names."""
    graph_server.latency = 0.05  # the way back from Meta
    [ack] = await writes(hook, redis_conn, SITI, REPORT)
    [taken] = graph_server.sent
    assert taken["message_id"] == ack.provider_message_id
    event = meta.read(SITI, taken["timestamp"])
    await meta_posts(hook, event)
    assert marks(SITI) == [(read_at(event), read_at(event))]
