"""Short-lived categories expire (tickets.expire_after), over the fake Bot API with the real client, real Redis + RQ,
SQLite and PostgreSQL: a traffic ticket no officer touched closes itself after its hours with a note, its citizen
and the officer holding its card are told; one an officer took or acted on does not, nor one a citizen reported
again an hour ago, nor a category that does not expire."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select, update

from hub.settings import RoutingSettings
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE
from router import context, recover
from router.context import RouterConfig
from store import db, ops
from store import officers as roster
from store.models import Ticket, TicketEvent, utcnow
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import CITIZEN, POINT, body, deliver, message, press, sent_to

pytestmark = pytest.mark.usefixtures("hub")

DEDI = {"id": 88120002, "is_bot": False, "first_name": "Dedi", "language_code": "id"}  # Dishub, Duren Sawit
JAM = "Macet total di depan pasar, kendaraan tidak bergerak sama sekali"


@pytest.fixture(autouse=True)
def crop(hub: str, redis_conn: redis.Redis) -> None:
    """Routing defaults (traffic expires after 6 h) and a Dishub officer of Duren Sawit."""
    routing = RoutingSettings().model_dump(mode="json", exclude={"officers"})
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing), redis_conn)
    with db.session() as s:
        roster.add(s, {"name": "Dedi (Dishub)", "telegram_id": str(DEDI["id"]), "role": "petugas",
                       "areas": ["31.75.07"], "agencies": ["dishub", "dsda"]})


def ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket).order_by(Ticket.id.desc())).first()  # type: ignore[return-value]


def hours_ago(ticket_id: int, hours: float) -> None:
    """The ticket and everything on its trail happened `hours` ago."""
    then = utcnow() - timedelta(hours=hours)
    with db.session() as s:
        s.execute(update(Ticket).where(Ticket.id == ticket_id).values(created_at=then, updated_at=then))
        s.execute(update(TicketEvent).where(TicketEvent.ticket_id == ticket_id).values(created_at=then))


def sweep(conn: redis.Redis) -> int:
    """The recovery sweep, then the workers until the queues are empty; → tickets it closed as expired."""
    closed = recover.sweep(older_than_seconds=24 * 3600)["expired_tickets"]
    SimpleWorker([Queue(n, connection=conn) for n in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)],
                 connection=conn).work(burst=True, logging_level="WARNING")
    return closed


async def test_an_expired_traffic_ticket_closes_and_the_citizen_is_told(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=JAM, location=POINT))
    jam = ticket()
    assert (jam.category, jam.status) == ("traffic", "assigned")
    hours_ago(jam.id, 5.9)
    assert sweep(redis_conn) == 0 and ticket().status == "assigned"  # not yet: traffic holds 6 h
    hours_ago(jam.id, 6.1)
    assert sweep(redis_conn) == 1
    closed = ticket()
    assert closed.status == "closed" and closed.closed_at is not None
    told = body(sent_to(fake_api, CITIZEN)[-1])
    assert told.startswith(f"Tiket {jam.public_id} ditutup otomatis: laporan lalu lintas") and "6 jam" in told
    assert "Terima kasih atas laporan Anda" not in told  # not the generic "closed" update
    assert f"Tiket {jam.public_id} ditutup otomatis: kedaluwarsa" in body(sent_to(fake_api, DEDI)[-1])
    with db.session() as s:
        last = ops.events_of(s, jam.id)[-1]
        assert (last.kind, last.actor, last.data["to"]) == ("status", "expiry", "closed")
        assert last.data["note"] == "kedaluwarsa: tanpa tindakan petugas dalam 6 jam"
    assert sweep(redis_conn) == 0  # once


async def test_a_ticket_an_officer_touched_does_not_expire(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=JAM, location=POINT))
    taken = ticket()
    [card] = sent_to(fake_api, DEDI)
    await deliver(fake_api, telegram_config, redis_conn, press(DEDI, card, f"/ambil {taken.public_id}"))
    # Another jam, still assigned and held by nobody, on whose trail an officer acted (any officer's event counts:
    # a re-categorisation, a handoff, a note from the dashboard).
    other = {**CITIZEN, "id": 52710077, "first_name": "Rina"}
    await deliver(fake_api, telegram_config, redis_conn,
                  message(other, text=JAM, location={"latitude": -6.2400, "longitude": 106.9100}))
    handed = ticket()
    assert handed.status == "assigned" and handed.first_response_at is None
    with db.session() as s:
        ops.add_events(s, [{"ticket_id": handed.id, "kind": "recategorised", "actor": "officer:1",
                            "data": {"from": "traffic", "to": "traffic"}}])
    for t in (taken, handed):
        hours_ago(t.id, 7)
    assert sweep(redis_conn) == 0
    with db.session() as s:
        assert {s.get(Ticket, t.id).status for t in (taken, handed)} <= {"taken", "open", "assigned"}
    assert not any("ditutup otomatis" in body(m) for m in sent_to(fake_api, CITIZEN) + sent_to(fake_api, other))


async def test_a_ticket_reported_again_lately_or_of_a_lasting_category_does_not_expire(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=JAM, location=POINT))
    jam = ticket()
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Banjir selutut di depan gang", location={"latitude": -6.2400,
                                                                                   "longitude": 106.9100}))
    flood = ticket()
    for t in (jam, flood):
        hours_ago(t.id, 30)
    with db.session() as s:  # a citizen said an hour ago that the jam is still there
        ops.add_events(s, [{"ticket_id": jam.id, "kind": "merged", "actor": "citizen:9",
                            "created_at": utcnow() - timedelta(hours=1)}])
    assert sweep(redis_conn) == 0
    with db.session() as s:
        assert (s.get(Ticket, jam.id).status, s.get(Ticket, flood.id).status) == ("assigned", "assigned")
