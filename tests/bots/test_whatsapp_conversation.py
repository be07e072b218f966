"""WhatsApp end to end: notifications signed and posted to the real webhook handler, stored, worked by the router's
jobs on real Redis + RQ (SQLite and PostgreSQL), and the replies sent by the real sender to the fake Cloud API.

A citizen reports without a place and is asked where with WhatsApp's share-location button; the pin she sends
places the ticket, which goes to the officer (in Telegram, the fake Bot API). The officer resolves it from the
card; she is asked whether it is fixed with two reply buttons, presses one, and the ticket closes."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select, update

from bots import registry
from bots.whatsapp import webhook
from ingest.intake import INTAKE_QUEUE, Intake
from ingest.message import Address
from router import replies
from store import db
from store.models import Citizen, InboundMessage, Outbox, Ticket
from tests.bots.officer_loop import officer_resolves, wired, work
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.whatsapp_api import APP_SECRET, NUMBER, VERIFY_TOKEN, FakeWhatsAppAPI, body_of, sign

SITI, SITI_NAME = "6281234567890", "Siti Rahma"


@pytest.fixture
def worker(db_url: str, redis_conn: redis.Redis, wa_api: FakeWhatsAppAPI, fake_api: FakeBotAPI,
           telegram_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """This process wired as a worker that answers on WhatsApp and Telegram, and an officer covering Duren Sawit."""
    whatsapp = wa_api.config(monkeypatch)
    with wired(db_url, redis_conn, fake_api, {"whatsapp": whatsapp, "telegram": telegram_config}, ["31.75.07"], ["dsda", "dlh"]):
        yield {"whatsapp": whatsapp, "telegram": telegram_config}


@pytest.fixture
async def hook(worker: dict[str, Any], redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    webhook.route(app, "/whatsapp/webhook", VERIFY_TOKEN, APP_SECRET,
                  Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    async with TestClient(TestServer(app)) as client:
        yield client




async def siti_sends(hook: TestClient, api: FakeWhatsAppAPI, conn: redis.Redis, content: dict[str, Any],
                     context: str | None = None) -> list[dict[str, Any]]:
    """Siti writes to the city's number; Meta posts it signed; the worker works every queue. → what she got back."""
    before = len(api.sent)
    body = body_of(FakeWhatsAppAPI.incoming(SITI, SITI_NAME, content, context))
    resp = await hook.post("/whatsapp/webhook", data=body, headers=sign(body))
    assert resp.status == 200
    work(conn)
    answers = api.sent[before:]
    assert answers and all(a["to"] == SITI and a["number"] == NUMBER for a in answers)
    return answers


def words(message: dict[str, Any]) -> str:
    if message["type"] == "text":
        return str(message["text"]["body"])
    if message["type"] == "image":
        return str(message["image"].get("caption", ""))
    return str(message["interactive"]["body"]["text"])


def the_ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket)).one()




async def test_a_whatsapp_report_is_placed_by_a_shared_pin_resolved_and_closed_by_a_button(
        hook: TestClient, wa_api: FakeWhatsAppAPI, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    # A report that names no place: filed, and she is asked where, with WhatsApp's share-location button.
    [ack] = await siti_sends(hook, wa_api, redis_conn, {"type": "text", "text": {"body": "Banjir setinggi lutut depan rumah, "
                                                                                       "tolong"}})
    ticket = the_ticket()
    assert ticket.channel == "whatsapp" and ticket.status == "needs_info" and ticket.public_id in words(ack)
    assert ack["type"] == "interactive" and ack["interactive"]["type"] == "location_request_message"

    # She shares a pin in Pondok Bambu: the ticket has its place and goes to the officer.
    answers = await siti_sends(hook, wa_api, redis_conn, {"type": "location", "location": {
        "latitude": -6.2318902, "longitude": 106.9063411}})
    ticket = the_ticket()
    assert ticket.kelurahan_kode == "31.75.07.1002" and ticket.status == "assigned"
    assert any(ticket.public_id in words(a) for a in answers)
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.channel == "whatsapp")).all()
        assert rows and all(r.status == "sent" and (r.provider_message_id or "").startswith("wamid.OUT") for r in rows)
        assert s.scalars(select(InboundMessage.status).where(InboundMessage.channel == "whatsapp")).all() == [
            "processed", "processed"]

    # The officer resolves it from Telegram; she is asked whether it is fixed, with two reply buttons (the
    # officer's photo is a Telegram file, which WhatsApp cannot show: the question goes without it).
    before = len(wa_api.sent)
    await officer_resolves(fake_api, worker["telegram"], redis_conn, ticket.public_id or "")
    assert the_ticket().status == "resolved"
    [asked] = wa_api.sent[before:]
    assert asked["interactive"]["type"] == "button" and "header" not in asked["interactive"]
    pressed = {b["reply"]["title"]: b["reply"]["id"] for b in asked["interactive"]["action"]["buttons"]}
    assert set(pressed) == {"Sudah beres ✅", "Belum ❌"}

    # She presses "Sudah beres": the press names our message and carries the button's id; the ticket closes.
    await siti_sends(hook, wa_api, redis_conn, {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": pressed["Sudah beres ✅"], "title": "Sudah beres ✅"}}},
        context=asked["id"])
    assert the_ticket().status == "closed"


# --- after the 24-hour window ---------------------------------------------------------------------------------------

async def placed_ticket(hook: TestClient, api: FakeWhatsAppAPI, conn: redis.Redis) -> Ticket:
    """Siti reports a flood and shares a pin in Pondok Bambu: a ticket assigned to the officer."""
    await siti_sends(hook, api, conn, {"type": "text", "text": {"body": "Banjir setinggi lutut depan rumah, tolong"}})
    await siti_sends(hook, api, conn, {"type": "location", "location": {"latitude": -6.2318902,
                                                                        "longitude": 106.9063411}})
    ticket = the_ticket()
    assert ticket.status == "assigned"
    return ticket


def a_day_passes(api: FakeWhatsAppAPI) -> None:
    """Siti last wrote 25 hours ago: WhatsApp now refuses anything but an approved template to her."""
    with db.session() as s:
        s.execute(update(Citizen).where(Citizen.channel == "whatsapp")
                  .values(last_seen_at=datetime.now(timezone.utc) - timedelta(hours=25)))
    api.closed.add(SITI)


def outbox() -> list[tuple[str, str]]:
    with db.session() as s:
        return [(r.dedupe_key, r.status) for r in s.scalars(select(Outbox).where(Outbox.channel == "whatsapp")
                                                             .order_by(Outbox.id))]


async def test_news_after_the_window_goes_as_the_approved_template_and_the_question_when_she_answers(
        hook: TestClient, wa_api: FakeWhatsAppAPI, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    registry.configure({**worker, "whatsapp": {**worker["whatsapp"], "window_template": "crophub_kabar_laporan"}})
    wa_api.templates["crophub_kabar_laporan"] = ("id", 1)
    ticket = await placed_ticket(hook, wa_api, redis_conn)
    a_day_passes(wa_api)

    # The officer resolves it a day later: the question is held, and the approved template tells her there is news.
    before = len(wa_api.sent)
    await officer_resolves(fake_api, worker["telegram"], redis_conn, ticket.public_id or "")
    assert the_ticket().status == "resolved"
    [notice] = wa_api.sent[before:]
    assert notice["type"] == "template" and notice["template"]["name"] == "crophub_kabar_laporan"
    assert notice["template"]["language"] == {"code": "id"}
    assert notice["template"]["components"] == [{"type": "body", "parameters": [{"type": "text",
                                                                                 "text": ticket.public_id}]}]
    assert [status for _, status in outbox()].count("held") == 1
    with db.session() as s:
        row = s.scalars(select(Outbox).where(Outbox.dedupe_key.like("window-notice:%"))).one()
        assert row.status == "sent" and ticket.public_id in row.text and row.provider_message_id == notice["id"]

    # More news while she is silent: held too, and no second template (her answer to the first releases both).
    with db.session() as s:
        ids = replies.store(s, [replies.reply(Address(**row.address), "Catatan petugas: saluran sudah dibersihkan",
                                              "more-news", ticket_id=ticket.id)])
    replies.enqueue_send(ids)
    work(redis_conn)
    assert len(wa_api.sent) == before + 1 and [s for k, s in outbox() if k == "more-news"] == ["held"]

    # She answers the template: the window opens, and the held replies go first, in their order.
    wa_api.closed.discard(SITI)
    answers = await siti_sends(hook, wa_api, redis_conn, {"type": "text", "text": {"body": "ada apa?"}},
                               context=notice["id"])
    asked = answers[0]
    assert asked["type"] == "interactive" and asked["interactive"]["type"] == "button"
    assert words(answers[1]) == "Catatan petugas: saluran sudah dibersihkan"
    assert "held" not in [status for _, status in outbox()]
    pressed = {b["reply"]["title"]: b["reply"]["id"] for b in asked["interactive"]["action"]["buttons"]}
    await siti_sends(hook, wa_api, redis_conn, {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": pressed["Sudah beres ✅"], "title": "Sudah beres ✅"}}},
        context=asked["id"])
    assert the_ticket().status == "closed"


async def test_without_a_template_news_after_the_window_waits_and_says_why(
        hook: TestClient, wa_api: FakeWhatsAppAPI, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    ticket = await placed_ticket(hook, wa_api, redis_conn)
    a_day_passes(wa_api)
    before = len(wa_api.sent)
    await officer_resolves(fake_api, worker["telegram"], redis_conn, ticket.public_id or "")
    assert wa_api.sent[before:] == []  # nothing sent into WhatsApp's refusal
    with db.session() as s:
        [row] = s.scalars(select(Outbox).where(Outbox.channel == "whatsapp", Outbox.status == "held")).all()
        assert "24-hour window" in (row.last_error or "")
    assert not any(key.startswith("window-notice:") for key, _ in outbox())
