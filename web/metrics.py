"""/metrics: the hub's counts in Prometheus' format, read from the database and Redis at scrape time, so the work
of every worker process shows, whichever process serves the page. Counts only: no chat, name or text."""
from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator
from typing import cast as cast_type

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import (CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily,
                                            Metric)
from prometheus_client.registry import Collector, CollectorRegistry
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import Float, case, cast, create_engine, func, select
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE
from router.replies import METRICS_KEY
from store.models import Cursor, InboundMessage, Outbox, Ticket

log = logging.getLogger(__name__)

QUEUES = (INTAKE_QUEUE, OUTBOX_QUEUE, CROP_QUEUE)
# The pipeline latency histogram covers the messages processed in this window before the scrape.
LATENCY_WINDOW = timedelta(minutes=15)
# A message received longer ago than this is not looked for, so the query stays on the (status, received_at)
# index instead of reading every processed message ever; one that took longer is a backlog /metrics shows
# as received messages and queue depth anyway.
LATENCY_LOOKBACK = timedelta(hours=24)
# Seconds from receipt to processed: an acknowledgement in a second or two when all is well, minutes to an hour
# in a backlog (a database outage, a flood of reports).
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
# The outbox's counters in METRICS_KEY's hash, "<kind>:<channel>" → metric (router/replies.py writes them).
OUTBOX_COUNTERS = {
    "attempts": ("crophub_outbox_send_attempts", "Send attempts (real API calls) by the outbox"),
    "rate_limited": ("crophub_outbox_rate_limited", "Send attempts the channel refused with a rate limit (429)"),
    "sent": ("crophub_outbox_sent", "Replies sent"),
    "failed": ("crophub_outbox_failed", "Replies the outbox gave up on"),
}


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class _Latency:
    buckets: list[tuple[str, float]]
    total: float


class HubCollector(Collector):
    """Reads the hub's state when Prometheus scrapes: tables through `sessions`, queues and counters in `redis`."""

    def __init__(self, sessions: sessionmaker[Session], redis: Redis, now: Callable[[], datetime] = utcnow) -> None:
        self.sessions = _readers(sessions)
        self.redis = redis
        self.now = now

    def collect(self) -> Iterable[Metric]:
        """Every metric; a source that cannot be read is reported down and the other's metrics still given."""
        up = GaugeMetricFamily("crophub_source_up", "Whether the scrape could read this source (1) or not (0)",
                               labels=["source"])
        for source, read in (("database", self._database), ("redis", self._redis)):
            try:
                yield from list(read())  # whole, or not at all: no half a source's metrics
                up.add_metric([source], 1)
            except Exception as exc:
                log.warning("metrics: could not read the %s: %s", source, exc)
                up.add_metric([source], 0)
        yield up

    def _database(self) -> Iterator[Metric]:
        now = self.now()
        with self.sessions.begin() as s:
            inbound = s.execute(select(InboundMessage.channel, InboundMessage.status, func.count())
                                .group_by(InboundMessage.channel, InboundMessage.status)).all()
            tickets = s.execute(select(Ticket.status, func.count()).group_by(Ticket.status)).all()
            outbox = s.execute(select(Outbox.channel, Outbox.status, func.count())
                               .group_by(Outbox.channel, Outbox.status)).all()
            oldest = s.execute(select(Outbox.channel, func.min(Outbox.created_at)).where(Outbox.status == "pending")
                               .group_by(Outbox.channel)).all()
            cursors = s.execute(select(Cursor.name, Cursor.updated_at)).all()
            latency = self._latency(s, now)
        yield _gauge("crophub_inbound_messages", "Inbound messages stored, by channel and status",
                     ["channel", "status"], ((row[:2], row[2]) for row in inbound))
        yield _gauge("crophub_tickets", "Tickets by status", ["status"], (((row[0],), row[1]) for row in tickets))
        yield _gauge("crophub_outbox_replies", "Replies in the outbox, by channel and status",
                     ["channel", "status"], ((row[:2], row[2]) for row in outbox))
        yield _gauge("crophub_outbox_oldest_pending_age_seconds", "Age of the oldest reply not sent yet, by channel",
                     ["channel"], (((channel,), _age(now, at)) for channel, at in oldest if at is not None))
        yield _gauge("crophub_listener_cursor_age_seconds",
                     "Seconds since a listener last moved its cursor (also grows on a quiet channel)",
                     ["cursor"], (((name,), _age(now, at)) for name, at in cursors))
        yield GaugeHistogramMetricFamily(
            "crophub_pipeline_latency_seconds",
            f"Receipt to processed, of the messages processed in the last {LATENCY_WINDOW.seconds // 60} minutes",
            buckets=latency.buckets, gsum_value=latency.total)

    def _latency(self, session: Session, now: datetime) -> _Latency:
        # Bucketed in SQL: at 300 messages/s the window holds a quarter of a million rows.
        seconds = _seconds_between(session, InboundMessage.received_at, InboundMessage.processed_at)
        columns: list[ColumnElement[Any]] = [func.count(), func.coalesce(func.sum(seconds), 0.0)]
        columns += [func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0) for bound in LATENCY_BUCKETS]
        row = session.execute(select(*columns).where(
            InboundMessage.status == "processed",
            InboundMessage.received_at >= now - LATENCY_LOOKBACK,
            InboundMessage.processed_at >= now - LATENCY_WINDOW)).one()
        count, total, counts = int(row[0]), float(row[1]), row[2:]
        buckets = [(str(bound), float(n)) for bound, n in zip(LATENCY_BUCKETS, counts)]
        return _Latency(buckets + [("+Inf", float(count))], total)

    def _redis(self) -> Iterator[Metric]:
        counters = cast_type(dict[bytes, bytes], self.redis.hgetall(METRICS_KEY))  # a sync client
        families = {kind: CounterMetricFamily(name, doc, labels=["channel"])
                    for kind, (name, doc) in OUTBOX_COUNTERS.items()}
        for field, n in sorted(counters.items()):
            kind, _, channel = field.decode().partition(":")
            if kind in families and channel:
                families[kind].add_metric([channel], float(n))
        yield from families.values()
        jobs = GaugeMetricFamily("crophub_queue_jobs", "RQ jobs by queue and state (failed: kept for inspection)",
                                 labels=["queue", "state"])
        for name in QUEUES:
            queue = Queue(name, connection=self.redis)
            jobs.add_metric([name, "queued"], queue.count)
            # No cleanup: a scrape only reads; the workers' maintenance moves expired entries.
            for state, registry in (("started", queue.started_job_registry),
                                    ("scheduled", queue.scheduled_job_registry),
                                    ("deferred", queue.deferred_job_registry),
                                    ("failed", queue.failed_job_registry)):
                jobs.add_metric([name, state], registry.get_job_count(cleanup=False))
        yield jobs
        yield GaugeMetricFamily("crophub_workers", "RQ workers registered in Redis",
                                value=len(Worker.all(connection=self.redis)))


def _readers(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions for reading only. On SQLite, the app's sessions begin with BEGIN IMMEDIATE (store/db.py), which
    would queue a scrape among the writers and hold them up while it counts; a plain read in WAL mode waits
    for nobody and holds nobody up."""
    bind = sessions.kw["bind"]
    if bind.dialect.name != "sqlite":
        return sessions
    return sessionmaker(create_engine(bind.url, connect_args={"timeout": 10}))


def _gauge(name: str, doc: str, labels: list[str], values: Iterable[tuple[Iterable[str], float]]) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for label_values, n in values:
        family.add_metric([str(v) for v in label_values], float(n))
    return family


def _age(now: datetime, at: datetime) -> float:
    return max(0.0, (now - at).total_seconds())


_When = ColumnElement[Any] | QueryableAttribute[Any]  # a datetime column


def _seconds_between(session: Session, start: _When, end: _When
                     ) -> ColumnElement[float]:
    if session.get_bind().dialect.name == "sqlite":
        # SQLite keeps datetimes as text; julianday() reads them as days.
        return cast((func.julianday(end) - func.julianday(start)) * 86400.0, Float)
    return cast(func.extract("epoch", end - start), Float)


def mount(app: web.Application, collector: Collector, token: str | None = None) -> None:
    """Serve `collector` at /metrics; with `token`, only to requests with "Authorization: Bearer <token>"."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    expected = f"Bearer {token}".encode() if token else None

    async def metrics(request: web.Request) -> web.Response:
        if expected and not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
            return web.json_response({"error": "a bearer token is needed"}, status=401,
                                     headers={"WWW-Authenticate": "Bearer"})
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        # In a thread: the scrape waits for the database and Redis.
        body = await asyncio.get_running_loop().run_in_executor(None, encoder, registry)
        return web.Response(body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})

    app.router.add_get("/metrics", metrics)
