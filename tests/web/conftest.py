"""Helpers for the web tests: citizens' reports filed through the real intake, pipeline and worker; officers with
a dashboard login, and logging in."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import redis
from aiohttp.test_utils import TestClient
from rq import Queue, SimpleWorker
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Location, Message, Sender
from store import accounts, db
from store import officers as roster
from store.models import Ticket

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


PASSWORD = "banjir-surut-2026"


def officer_with_login(username: str, name: str, telegram_id: str, role: str = "petugas",
                       areas: tuple[str, ...] = ("31.75",), agencies: tuple[str, ...] = ("dsda",)) -> None:
    """An officer on the roster with a dashboard login (as `crophub officer add` and `crophub account add`)."""
    with db.session() as s:
        officer = roster.add(s, {"telegram_id": telegram_id, "name": name, "role": role, "areas": list(areas),
                                 "agencies": list(agencies)})
        s.flush()
        accounts.add(s, username, PASSWORD, officer)


async def login(client: TestClient, username: str = "budi", password: str = PASSWORD, next_: str = "") -> int:
    """Log in through the form (its own CSRF token first); → the answer's status (302 when it worked)."""
    form_page = await (await client.get(f"/login?next={next_}")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": username, "password": password,
                                                  "next": next_}, allow_redirects=False)
    return response.status


async def csrf_of(client: TestClient, path: str) -> str:
    """The CSRF token of the form on the page at `path`."""
    page = await (await client.get(path)).text()
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]


def ticket(category: str) -> Ticket:
    """The one ticket of `category`."""
    with db.session() as s:
        return s.scalars(select(Ticket).where(Ticket.category == category)).one()
