"""Nearby reports before filing, over the fake Bot API with the real client, real Redis + RQ, SQLite and PostgreSQL:
a report near an active ticket of its category asks its citizen whether to support that one. Yes (a button, a
menu number, a typed "ya") joins it as a co-reporter, who gets its next update; no files a ticket of its own; no
answer in time files it too. Another category, or farther than the radius, asks nothing; the same citizen's
report again joins their own ticket without a question."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select, update

from hub.settings import RoutingSettings
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE
from router import context, lifecycle, recover
from router.context import RouterConfig
from store import db
from store import officers as roster
from store.models import Question, Ticket, TicketEvent, utcnow
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import (CITIZEN, NEIGHBOUR, OFFICER, POINT, body, deliver, message, press,
                                                  sent_to)

pytestmark = pytest.mark.usefixtures("hub", "crop")

FLOOD = "Banjir selutut di depan gang, motor mogok"
NEAR = {"latitude": -6.2268, "longitude": 106.9015}  # ~230 m from POINT: inside flood's 500 m
FAR = {"latitude": -6.2400, "longitude": 106.9100}  # ~2 km away
QUESTION = "Ada laporan serupa di dekat Anda"


@pytest.fixture
def crop(hub: str, redis_conn: redis.Redis) -> None:
    """Routing defaults and one PPSU officer of Duren Sawit for SDA work (as tests/router/test_crop_conversations)."""
    routing = RoutingSettings().model_dump(mode="json", exclude={"officers"})
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing), redis_conn)
    with db.session() as s:
        roster.add(s, {"name": "Budi (PPSU)", "telegram_id": str(OFFICER["id"]), "role": "petugas",
                       "areas": ["31.75.07"], "agencies": ["dsda"]})


def tickets() -> list[Ticket]:
    with db.session() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def kinds(ticket_id: int) -> list[tuple[str, str]]:
    with db.session() as s:
        return [(e.kind, e.actor.split(":")[0]) for e in
                s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id))]


async def first_report(api: FakeBotAPI, config: dict, conn: redis.Redis) -> Ticket:
    """The citizen's flood at POINT, sent to the officer."""
    await deliver(api, config, conn, message(CITIZEN, text=FLOOD, location=POINT))
    [t] = tickets()
    assert t.status == "assigned"
    return t


async def neighbour_reports(api: FakeBotAPI, config: dict, conn: redis.Redis, text: str = FLOOD,
                            where: dict[str, float] = NEAR) -> dict[str, Any]:
    """The neighbour's report with a shared point; → the last message the neighbour got."""
    await deliver(api, config, conn, message(NEIGHBOUR, text=text, location=where))
    return sent_to(api, NEIGHBOUR)[-1]


async def test_a_nearby_report_is_offered_and_joined_and_the_co_reporter_gets_the_next_update(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    first = await first_report(fake_api, telegram_config, redis_conn)
    asked = await neighbour_reports(fake_api, telegram_config, redis_conn)
    assert f"{QUESTION} ({first.public_id}, 230 m): dukung laporan itu?" in body(asked)
    [[yes, no]] = asked["reply_markup"]["inline_keyboard"]
    assert (yes["text"], no["text"]) == ("Ya, dukung", "Tidak, laporan baru")
    _, waiting = tickets()
    assert waiting.status == "needs_info"  # waits for the citizen's word: no card for it
    assert len(sent_to(fake_api, OFFICER)) == 1

    await deliver(fake_api, telegram_config, redis_conn, press(NEIGHBOUR, asked, yes["callback_data"]))
    kept, merged = tickets()
    assert (merged.status, merged.duplicate_of_id) == ("duplicate", first.id) and kept.status == "assigned"
    assert f"sudah ada di dekat lokasi Anda: tiket {first.public_id}" in body(sent_to(fake_api, NEIGHBOUR)[-1])
    assert any(e["message_id"] == asked["message"]["message_id"] for e in fake_api.edits)  # its buttons go
    # Audited on both tickets, as the citizen's doing.
    assert ("nearby_offered", "router") in kinds(merged.id) and ("nearby_answered", "citizen") in kinds(merged.id)
    assert ("merged", "citizen") in kinds(first.id)
    # The same button pressed again: a short notice on the button, nothing joined twice.
    sent_before = len(sent_to(fake_api, NEIGHBOUR))
    await deliver(fake_api, telegram_config, redis_conn, press(NEIGHBOUR, asked, yes["callback_data"]))
    assert "tidak berlaku" in (fake_api.answered[-1].get("text") or "")
    assert len(sent_to(fake_api, NEIGHBOUR)) == sent_before
    with db.session() as s:
        assert {r.citizen_id for r in lifecycle.reporters(s, first.id)} == {first.citizen_id, merged.citizen_id}
        assert s.scalars(select(Question.status).where(Question.kind == "nearby")).one() == "answered"

    [card] = sent_to(fake_api, OFFICER)
    await deliver(fake_api, telegram_config, redis_conn, press(OFFICER, card, f"/ambil {first.public_id}"))
    for who in (CITIZEN, NEIGHBOUR):  # the co-reporter hears of the next change too
        assert f"Tiket {first.public_id}: laporan Anda sedang ditangani" in body(sent_to(fake_api, who)[-1])


async def test_a_nearby_report_declined_is_filed_as_a_new_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    first = await first_report(fake_api, telegram_config, redis_conn)
    asked = await neighbour_reports(fake_api, telegram_config, redis_conn)
    [[_, no]] = asked["reply_markup"]["inline_keyboard"]
    await deliver(fake_api, telegram_config, redis_conn, press(NEIGHBOUR, asked, no["callback_data"]))
    _, second = tickets()
    assert second.status == "assigned" and second.duplicate_of_id is None
    told = body(sent_to(fake_api, NEIGHBOUR)[-1])
    assert f"nomor tiket {second.public_id}" in told and "diteruskan ke petugas" in told
    assert len(sent_to(fake_api, OFFICER)) == 2  # a card of its own
    with db.session() as s:
        assert {r.citizen_id for r in lifecycle.reporters(s, first.id)} == {first.citizen_id}


async def test_a_typed_ya_or_a_menu_number_answers_too(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    first = await first_report(fake_api, telegram_config, redis_conn)
    await neighbour_reports(fake_api, telegram_config, redis_conn)
    await deliver(fake_api, telegram_config, redis_conn, message(NEIGHBOUR, text="ya"))
    assert [t.status for t in tickets()] == ["assigned", "duplicate"]
    # Another neighbour: "2" is the menu's second item (Tidak) on a channel that shows no buttons.
    other = {**NEIGHBOUR, "id": 52710100, "first_name": "Wati"}
    await deliver(fake_api, telegram_config, redis_conn, message(other, text=FLOOD, location=NEAR))
    assert QUESTION in body(sent_to(fake_api, other)[-1])
    await deliver(fake_api, telegram_config, redis_conn, message(other, text="2"))
    assert [t.status for t in tickets()] == ["assigned", "duplicate", "assigned"]
    assert tickets()[0].id == first.id


async def test_another_category_or_farther_than_the_radius_asks_nothing(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await first_report(fake_api, telegram_config, redis_conn)
    garbage = await neighbour_reports(fake_api, telegram_config, redis_conn, "Sampah menumpuk di pinggir jalan, bau",
                                      POINT)
    far = await neighbour_reports(fake_api, telegram_config, redis_conn, FLOOD, FAR)
    assert QUESTION not in body(garbage) and QUESTION not in body(far)
    flood, pile, other = tickets()
    assert (pile.category, other.category) == ("garbage", "flood")
    assert pile.status != "needs_info" and other.status == "assigned"


async def test_the_same_citizen_again_joins_their_own_ticket_without_a_question(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    first = await first_report(fake_api, telegram_config, redis_conn)
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="air makin tinggi, banjir sampai pinggang", location=NEAR))
    assert [t.id for t in tickets()] == [first.id]
    last = body(sent_to(fake_api, CITIZEN)[-1])
    assert QUESTION not in last and first.public_id in last


async def test_an_unanswered_question_files_the_report_on_its_own(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await first_report(fake_api, telegram_config, redis_conn)
    await neighbour_reports(fake_api, telegram_config, redis_conn)
    with db.session() as s:  # tickets.nearby_wait_minutes have passed
        s.execute(update(Question).where(Question.kind == "nearby").values(expires_at=utcnow() - timedelta(seconds=1)))
    assert recover.sweep(older_than_seconds=3600)["expired"] == 1
    SimpleWorker([Queue(n, connection=redis_conn) for n in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)],
                 connection=redis_conn).work(burst=True, logging_level="WARNING")
    _, second = tickets()
    assert second.status == "assigned"
    told = body(sent_to(fake_api, NEIGHBOUR)[-1])
    assert told.startswith("Belum ada jawaban, jadi laporan Anda kami catat sebagai tiket baru.")
    assert second.public_id in told and "diteruskan ke petugas" in told
    assert len(sent_to(fake_api, OFFICER)) == 2
