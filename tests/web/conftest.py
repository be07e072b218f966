"""Helpers for the web tests: citizens' reports filed through the real intake, pipeline and worker."""
from __future__ import annotations

from datetime import datetime, timezone

import redis
from rq import Queue, SimpleWorker

from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Location, Message, Sender
from store import db

# Who the test citizen is: none of it may appear on a public page or in the API.
CITIZEN = Sender(id="5550001", name="Budi Santoso", username="budisan")


def work(conn: redis.Redis) -> None:
    """Run an RQ worker until the intake and outbox queues are empty."""
    SimpleWorker([Queue(OUTBOX_QUEUE, connection=conn), Queue(INTAKE_QUEUE, connection=conn)],
                 connection=conn).work(burst=True, logging_level="WARNING")


def report(conn: redis.Redis, key: str, text: str, lat: float, lon: float) -> None:
    """A citizen's Telegram report with a shared point, through the intake and a worker."""
    msg = Message(channel="telegram", key=key, sender=CITIZEN, address=Address(channel="telegram", chat_id=CITIZEN.id),
                  text=text, location=Location(lat=lat, lon=lon), received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)
