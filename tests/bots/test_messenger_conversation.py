"""Messenger end to end: events signed and posted to the real webhook handler, stored, worked by the router's jobs on
real Redis + RQ (SQLite and PostgreSQL), and the replies sent by the real sender to the fake Send API.

A citizen reports without a place and is asked to type it (Messenger has had no location button since 2019); the
address she answers with places the ticket, which goes to the officer (in Telegram, the fake Bot API). The officer
resolves it from the card; she is asked whether it is fixed with two quick replies, presses one, and the ticket
closes. And the 24-hour window: a reply due after it is held, and goes first when she writes again."""
from __future__ import annotations

from datetime import timedelta
from typing import Any, AsyncIterator, Iterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select, update

from bots.messenger import webhook
from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import Citizen, InboundMessage, Outbox, Ticket, utcnow
from tests.fakes import messenger_api as meta
from tests.fakes.messenger_api import APP_SECRET, PAGE_ID, VERIFY_TOKEN, FakeGraphAPI
from tests.bots.officer_loop import OFFICER, officer_resolves, wired, work
from tests.fakes.telegram_api import FakeBotAPI

SITI = "7123456789012345"  # her Page-scoped id (PSID)
PATH = "/messenger/webhook"
PONDOK_BAMBU = "31.75.07.1002"




@pytest.fixture
def worker(db_url: str, redis_conn: redis.Redis, graph: FakeGraphAPI, fake_api: FakeBotAPI,
           telegram_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """This process wired as a worker that answers on Messenger and Telegram, and an officer covering Duren Sawit."""
    messenger = graph.config(monkeypatch)
    senders = {"messenger": messenger, "telegram": telegram_config}
    with wired(db_url, redis_conn, fake_api, senders, ["31.75.07"], ["dsda", "dlh"]):
        yield {"messenger": messenger, "telegram": telegram_config}


@pytest.fixture
async def hook(worker: dict[str, Any], redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    webhook.route(app, PATH, VERIFY_TOKEN, APP_SECRET, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    async with TestClient(TestServer(app)) as client:
        yield client




async def siti_sends(hook: TestClient, graph: FakeGraphAPI, conn: redis.Redis, event: dict[str, Any]) -> list[dict[str, Any]]:
    """Siti writes to the Page; Meta posts the event signed; the worker works every queue. → what she got back."""
    before = len(graph.sent)
    body = meta.body_of(meta.notification(event))
    resp = await hook.post(PATH, data=body, headers=meta.signed(body))
    assert resp.status == 200
    work(conn)
    return graph.sent[before:]


def to_siti(answers: list[dict[str, Any]]) -> bool:
    """Every answer went to her PSID as a standard reply (RESPONSE, within the 24 hours of her message)."""
    return bool(answers) and all(a["recipient"] == {"id": SITI} and a["messaging_type"] == "RESPONSE" for a in answers)


def the_ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket)).one()




async def test_a_messenger_report_is_placed_by_a_typed_address_resolved_and_closed_by_a_quick_reply(
        hook: TestClient, graph: FakeGraphAPI, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    # A report that names no place: filed, and she is asked to type where (no location button to offer).
    [ack] = await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Banjir setinggi lutut depan rumah, tolong"))
    assert to_siti([ack])
    ticket = the_ticket()
    assert ticket.channel == "messenger" and ticket.status == "needs_info" and ticket.kelurahan_kode is None
    assert ticket.public_id in ack["message"]["text"] and "balas dengan alamat" in ack["message"]["text"]
    assert "quick_replies" not in ack["message"]

    # She types the address: the ticket has its place and goes to the officer; she is told where it was filed.
    answers = await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"))
    assert to_siti(answers)
    ticket = the_ticket()
    assert ticket.kelurahan_kode == PONDOK_BAMBU and ticket.status == "assigned"
    assert any(ticket.public_id in a["message"]["text"] and "Pondok Bambu" in a["message"]["text"] for a in answers)
    assert any(str(m["chat_id"]) == str(OFFICER["id"]) and ticket.public_id in (m.get("text") or "") for m in fake_api.sent)
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.channel == "messenger")).all()
        assert rows and all(r.status == "sent" and (r.provider_message_id or "").startswith("m_OUT") for r in rows)
        assert all(r.address["chat_id"] == SITI and r.address["bot"] == PAGE_ID for r in rows)
        assert s.scalars(select(InboundMessage.status).where(InboundMessage.channel == "messenger")).all() == [
            "processed", "processed"]

    # The officer resolves it from Telegram; she is asked whether it is fixed, with two quick replies (the officer's
    # photo is a Telegram file the Send API cannot fetch: the question goes without it).
    before = len(graph.sent)
    await officer_resolves(fake_api, worker["telegram"], redis_conn, ticket.public_id or "")
    assert the_ticket().status == "resolved"
    [asked] = graph.sent[before:]
    assert to_siti([asked]) and "attachment" not in asked["message"]
    pressed = {q["title"]: q["payload"] for q in asked["message"]["quick_replies"]}
    assert set(pressed) == {"Sudah beres ✅", "Belum ❌"}

    # She presses "Sudah beres": Meta sends the title as text and the payload beside it; the ticket closes.
    thanks = await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Sudah beres ✅",
                                                                    quick_reply=pressed["Sudah beres ✅"]))
    assert to_siti(thanks)
    assert the_ticket().status == "closed"
    assert to_siti(graph.sent)  # every reply of the conversation


async def test_an_older_clients_location_attachment_places_the_report(
        hook: TestClient, graph: FakeGraphAPI, worker: dict[str, Any], redis_conn: redis.Redis) -> None:
    await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Banjir setinggi lutut depan rumah, tolong"))
    assert the_ticket().status == "needs_info"
    # The attachment Messenger sent before Meta removed location sharing (tests/fixtures/messenger/location.json).
    pin = {"title": "Siti's Location", "url": "https://www.facebook.com/l.php?u=...", "type": "location",
           "payload": {"coordinates": {"lat": -6.225014, "long": 106.900447}}}
    answers = await siti_sends(hook, graph, redis_conn, meta.message(SITI, attachments=[pin]))
    assert to_siti(answers)
    ticket = the_ticket()
    assert ticket.kelurahan_kode == PONDOK_BAMBU and ticket.status == "assigned"


# --- the 24-hour window ----------------------------------------------------------------------------------------------

def her_last_message_was(hours_ago: float) -> None:
    with db.session() as s:
        s.execute(update(Citizen).where(Citizen.channel == "messenger", Citizen.external_id == SITI)
                  .values(last_seen_at=utcnow() - timedelta(hours=hours_ago)))


def outbox(ticket_id: int) -> list[Outbox]:
    with db.session() as s:
        return list(s.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id).order_by(Outbox.id)))


async def test_a_status_change_after_24_hours_is_held_and_goes_first_when_she_writes(
        hook: TestClient, graph: FakeGraphAPI, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Banjir setinggi lutut di Jl. Pahlawan Revolusi, "
                                                                 "kelurahan Pondok Bambu"))
    ticket = the_ticket()
    assert ticket.status == "assigned"
    her_last_message_was(hours_ago=25)
    graph.close_window(SITI)  # Meta's side of the same clock

    # The officer resolves it a day later: the "is it fixed?" question is due, but Meta would refuse it (code 10 /
    # 2018278): it is held with its reason, and nothing reaches the Send API.
    before, calls = len(graph.sent), graph.calls
    await officer_resolves(fake_api, worker["telegram"], redis_conn, ticket.public_id or "")
    assert the_ticket().status == "resolved"
    assert graph.sent[before:] == [] and graph.calls == calls
    held = [r for r in outbox(ticket.id) if r.status == "held"]
    assert len(held) == 1 and "24-hour window" in (held[0].last_error or "")
    assert (held[0].extras or {}).get("buttons")  # the question, with its quick replies

    # She writes again: the held question goes first, then the answer to what she wrote.
    graph.open_window(SITI)
    answers = await siti_sends(hook, graph, redis_conn, meta.message(SITI, "Halo, bagaimana laporan saya?"))
    assert to_siti(answers) and len(answers) >= 2
    assert answers[0]["message"]["text"] == held[0].text and answers[0]["message"]["quick_replies"]
    assert all(r.status == "sent" for r in outbox(ticket.id))
