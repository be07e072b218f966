"""/metrics: counts read from the database and Redis at scrape time, in Prometheus' text format."""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, SimpleWorker
from sqlalchemy.orm import Session, sessionmaker

from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE
from router.replies import METRICS_KEY
from store import db, migrate
from store.models import Cursor, InboundMessage, Outbox, Ticket
from web import metrics
from web.app import make_app

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(collector: metrics.HubCollector, token: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Status, content type and body of GET /metrics."""
    app = make_app(lambda: {"redis": True})
    metrics.mount(app, collector, token)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/metrics", headers=headers or {})
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float | None:
    """One sample's value, None when absent."""
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    yield db.configure(db_url)


def inbound(channel: str, key: str, status: str, received: timedelta, latency: float | None = None) -> InboundMessage:
    received_at = datetime.now(timezone.utc) - received
    return InboundMessage(channel=channel, key=key, status=status, received_at=received_at, message=None, raw={},
                          processed_at=None if latency is None else received_at + timedelta(seconds=latency))


def reply(key: str, channel: str, status: str, age: timedelta) -> Outbox:
    at = datetime.now(timezone.utc) - age
    return Outbox(dedupe_key=key, channel=channel, chat_key=f"{channel}:5550001", address={}, text="ok",
                  status=status, created_at=at, updated_at=at)


@pytest.fixture
def hub_state(sessions: sessionmaker[Session], redis_conn: redis.Redis) -> None:
    """Rows and queues as a running hub leaves them."""
    with sessions.begin() as s:
        s.add_all([
            inbound("telegram", "1", "received", timedelta(seconds=5)),
            inbound("telegram", "2", "received", timedelta(seconds=4)),
            inbound("telegram", "3", "processed", timedelta(minutes=2), latency=0.8),
            inbound("telegram", "4", "processed", timedelta(minutes=3), latency=3.0),
            inbound("email", "5", "processed", timedelta(minutes=5), latency=40.0),
            inbound("email", "6", "processed", timedelta(hours=2), latency=1.0),  # before the window
            inbound("email", "7", "failed", timedelta(hours=1)),
        ])
        s.add_all([Ticket(channel="telegram", status="open", reply_address={}),
                   Ticket(channel="telegram", status="open", reply_address={}),
                   Ticket(channel="email", status="closed", reply_address={})])
        s.add_all([reply("a", "telegram", "pending", timedelta(seconds=90)),
                   reply("b", "telegram", "pending", timedelta(seconds=10)),
                   reply("c", "telegram", "failed", timedelta(hours=1)),
                   reply("d", "email", "sent", timedelta(hours=1))])
        s.add(Cursor(name="telegram:123:offset", value="42", updated_at=datetime.now(timezone.utc) - timedelta(seconds=30)))
    redis_conn.hset(METRICS_KEY, mapping={"attempts:telegram": 7, "rate_limited:telegram": 2, "sent:telegram": 4,
                                          "failed:telegram": 1, "sent:email": 1})
    intake = Queue(INTAKE_QUEUE, connection=redis_conn)
    intake.enqueue("router.pipeline.process_inbound", [1])
    intake.enqueue("router.pipeline.process_inbound", [2])
    failed = Queue(OUTBOX_QUEUE, connection=redis_conn).enqueue("router.replies.send_outbox", [3])
    failed.get_status()
    Queue(OUTBOX_QUEUE, connection=redis_conn).failed_job_registry.add(failed, ttl=600, exc_string="boom")


async def test_metrics_count_what_the_database_and_redis_hold(sessions: sessionmaker[Session], redis_conn: redis.Redis,
                                                              hub_state: None) -> None:
    worker = SimpleWorker([Queue(INTAKE_QUEUE, connection=redis_conn)], connection=redis_conn)
    worker.register_birth()
    try:
        status, content_type, text = await scrape(metrics.HubCollector(sessions, redis_conn))
    finally:
        worker.register_death()
    assert status == 200 and content_type.startswith("text/plain")
    found = samples(text)
    assert value(found, "crophub_inbound_messages", channel="telegram", status="received") == 2
    assert value(found, "crophub_inbound_messages", channel="telegram", status="processed") == 2
    assert value(found, "crophub_inbound_messages", channel="email", status="failed") == 1
    assert value(found, "crophub_tickets", status="open") == 2 and value(found, "crophub_tickets", status="closed") == 1
    assert value(found, "crophub_outbox_replies", channel="telegram", status="pending") == 2
    assert value(found, "crophub_outbox_replies", channel="telegram", status="failed") == 1
    assert 85 <= value(found, "crophub_outbox_oldest_pending_age_seconds", channel="telegram") <= 150  # type: ignore[operator]
    assert value(found, "crophub_outbox_oldest_pending_age_seconds", channel="email") is None
    # The outbox's counters from every worker, kept in Redis.
    assert value(found, "crophub_outbox_send_attempts_total", channel="telegram") == 7
    assert value(found, "crophub_outbox_rate_limited_total", channel="telegram") == 2
    assert value(found, "crophub_outbox_sent_total", channel="telegram") == 4
    assert value(found, "crophub_outbox_sent_total", channel="email") == 1
    assert value(found, "crophub_outbox_failed_total", channel="telegram") == 1
    assert value(found, "crophub_queue_jobs", queue=INTAKE_QUEUE, state="queued") == 2
    assert value(found, "crophub_queue_jobs", queue=OUTBOX_QUEUE, state="failed") == 1
    assert value(found, "crophub_queue_jobs", queue=CROP_QUEUE, state="queued") == 0
    assert value(found, "crophub_workers") == 1
    assert 25 <= value(found, "crophub_listener_cursor_age_seconds", cursor="telegram:123:offset") <= 90  # type: ignore[operator]
    # Latency of the messages processed in the last 15 minutes: 0.8 s, 3 s and 40 s.
    assert value(found, "crophub_pipeline_latency_seconds_bucket", le="1.0") == 1
    assert value(found, "crophub_pipeline_latency_seconds_bucket", le="5.0") == 2
    assert value(found, "crophub_pipeline_latency_seconds_bucket", le="60.0") == 3
    assert value(found, "crophub_pipeline_latency_seconds_bucket", le="+Inf") == 3
    assert value(found, "crophub_pipeline_latency_seconds_gcount") == 3
    assert value(found, "crophub_pipeline_latency_seconds_gsum") == pytest.approx(43.8, abs=0.01)
    assert value(found, "crophub_source_up", source="database") == 1
    assert value(found, "crophub_source_up", source="redis") == 1
    # Counts only: no chat, name or text.
    assert "5550001" not in text


async def test_metrics_of_an_empty_hub(sessions: sessionmaker[Session], redis_conn: redis.Redis) -> None:
    status, _type, text = await scrape(metrics.HubCollector(sessions, redis_conn))
    found = samples(text)
    assert status == 200 and value(found, "crophub_workers") == 0
    assert value(found, "crophub_pipeline_latency_seconds_gcount") == 0
    assert not [k for k in found if k[0] == "crophub_outbox_send_attempts_total"]


async def test_a_service_down_is_said_and_the_rest_still_counted(sessions: sessionmaker[Session],
                                                                 hub_state: None) -> None:
    gone = redis.Redis.from_url("redis://127.0.0.1:1/0")
    status, _type, text = await scrape(metrics.HubCollector(sessions, gone))
    found = samples(text)
    assert status == 200 and value(found, "crophub_source_up", source="redis") == 0
    assert value(found, "crophub_tickets", status="open") == 2


async def test_a_token_when_configured(sessions: sessionmaker[Session], redis_conn: redis.Redis) -> None:
    collector = metrics.HubCollector(sessions, redis_conn)
    assert (await scrape(collector, "s3cret"))[0] == 401
    assert (await scrape(collector, "s3cret", {"Authorization": "Bearer wrong"}))[0] == 401
    assert (await scrape(collector, "s3cret", {"Authorization": "Bearer s3cret"}))[0] == 200


async def test_a_scrape_on_sqlite_waits_for_no_writer(tmp_path: Path, redis_conn: redis.Redis) -> None:
    url = f"sqlite:///{tmp_path / 'crophub.db'}"
    migrate.upgrade(url)
    sessions = db.configure(url)
    writer = sqlite3.connect(tmp_path / "crophub.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long pipeline transaction holds the write lock
    writer.execute("INSERT INTO cursors (name, value, updated_at) VALUES ('x', '1', '2026-01-01 00:00:00')")
    try:
        start = time.monotonic()
        status, _type, text = await scrape(metrics.HubCollector(sessions, redis_conn))
        assert status == 200 and time.monotonic() - start < 3
        assert value(samples(text), "crophub_source_up", source="database") == 1
    finally:
        writer.execute("ROLLBACK")
        writer.close()
