"""SMS end to end: the gateway's webhook requests posted to the real handler, stored, worked by the router's jobs on
real Redis + RQ (SQLite and PostgreSQL), and the replies sent by the real sender to the fake gateway (Twilio's send
protocol).

A citizen texts a report that names no place and is asked by SMS to type the address; her answer places the ticket,
which goes to the officer (in Telegram, the fake Bot API). The officer resolves it from the card with a photo; she
is asked by SMS whether it is fixed, as a numbered menu, and answers by typing a number: "2" (not yet) sends it back
to the officer, who resolves it again; "1" (fixed), hours later, closes it."""
from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlencode

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

from bots.sms import segments, webhook
from bots.sms.config import SmsSettings
from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import InboundMessage, Outbox, Ticket
from tests.conftest import fixture
from tests.fakes.sms_gateway import ACCOUNT_SID, AUTH_TOKEN, FakeSmsGateway, twilio_signature
from tests.bots.officer_loop import OFFICER, officer_resolves, wired, work
from tests.fakes.telegram_api import FakeBotAPI

CITIZEN, SHORT_NUMBER = "+6281298765432", "+622150851708"  # as in tests/fixtures/sms/twilio_text.json
USER_ENV, PASSWORD_ENV = "CROPHUB_TEST_SMS_USER", "CROPHUB_TEST_SMS_PASSWORD"
_sids = itertools.count(1)


@pytest.fixture
def sms_config(gateway: FakeSmsGateway, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The twilio preset as a deployment sets it: Twilio's own signature, keyed with the account's auth token."""
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)
    return {"preset": "twilio", "username_env": USER_ENV, "password_env": PASSWORD_ENV,
            "send_url": gateway.twilio_url}


@pytest.fixture
def worker(db_url: str, redis_conn: redis.Redis, fake_api: FakeBotAPI, telegram_config: dict[str, Any],
           sms_config: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """This process wired as a worker that answers by SMS and on Telegram, and an officer covering Jakarta Timur."""
    senders = {"sms": SmsSettings.model_validate(sms_config).sender_config(), "telegram": telegram_config}
    with wired(db_url, redis_conn, fake_api, senders, ["31.75"], ["dsda", "dlh", "bina_marga"]):
        yield {"sms": sms_config, "telegram": telegram_config}


@pytest.fixture
async def hook(worker: dict[str, Any], redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    webhook.mount(app, SmsSettings.model_validate(worker["sms"]), Intake(db.factory(), Queue(INTAKE_QUEUE,
                                                                                             connection=redis_conn)))
    async with TestClient(TestServer(app)) as client:
        yield client




async def citizen_texts(hook: TestClient, gateway: FakeSmsGateway, conn: redis.Redis, text: str) -> list[str]:
    """She texts the short number; Twilio posts it, signed; the worker works every queue. → the SMS she got back."""
    before = len(gateway.sent)
    form = {**fixture("sms", "twilio_text"), "Body": text, "MessageSid": f"SM{next(_sids):032x}"}
    form["SmsSid"] = form["SmsMessageSid"] = form["MessageSid"]
    url = str(hook.make_url("/sms/inbound"))
    resp = await hook.post("/sms/inbound", data=urlencode(form), headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": twilio_signature(url, form)})
    assert resp.status == 200
    work(conn)
    answers = gateway.sent[before:]
    assert answers and all(a["to"] == CITIZEN and a["from"] == SHORT_NUMBER for a in answers)
    return [str(a["text"]) for a in answers]


def the_ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket)).one()




async def test_an_sms_report_is_placed_by_a_typed_address_resolved_and_closed_by_a_menu_number(
        hook: TestClient, gateway: FakeSmsGateway, fake_api: FakeBotAPI, worker: dict[str, Any],
        redis_conn: redis.Redis) -> None:
    # A report that names no place: filed, and she is asked to type the address (SMS has no location button).
    [asked] = await citizen_texts(hook, gateway, redis_conn, "Banjir setinggi lutut, motor tidak bisa lewat")
    ticket = the_ticket()
    public_id = ticket.public_id or ""
    assert ticket.channel == "sms" and ticket.status == "needs_info" and ticket.kelurahan_kode is None
    assert public_id and public_id in asked and "balas dengan alamat" in asked
    # In GSM-7 (the template's dash sent as "-"), and whole: not cut.
    assert "Lokasi: belum diketahui - balas" in asked and segments.encoding(asked) == "gsm7"
    assert not asked.endswith("...")

    # She types the address: the ticket has its place and goes to the officer.
    answers = await citizen_texts(hook, gateway, redis_conn, "Jl. Jatinegara Barat RT 03/RW 05, Kampung Melayu, "
                                                             "Jatinegara")
    ticket = the_ticket()
    assert ticket.kelurahan_kode is not None and ticket.kelurahan_kode.startswith("31.75.")
    assert ticket.status == "assigned" and any(public_id in a for a in answers)
    assert any(public_id in (m.get("text") or "") for m in fake_api.sent
               if str(m["chat_id"]) == str(OFFICER["id"]))  # the officer's card

    # The officer resolves it from Telegram with a photo; she is asked by SMS whether it is fixed, as a numbered
    # menu (the photo is a Telegram file: an SMS carries none), in GSM-7 so that it costs as few parts as it can.
    question = await resolved(fake_api, gateway, worker["telegram"], redis_conn, public_id)
    assert "sudah disedot" in question
    assert question.split("\n\n")[-1].split("\n") == ["Balas dengan angka pilihan Anda:", "1. Sudah beres", "2. Belum"]
    assert segments.encoding(question) == "gsm7" and len(segments.split(question, 4)) == 2  # not 4 parts of UCS-2

    # She types "2" at once: "Belum", the ticket goes back to the officer.
    await citizen_texts(hook, gateway, redis_conn, "2")
    assert the_ticket().status == "reopened"
    await resolved(fake_api, gateway, worker["telegram"], redis_conn, public_id)  # from the new card

    # She answers "1" two hours later, past the dialogue's timeout, which "is it fixed?" outlives: "Sudah beres",
    # and the ticket closes.
    with db.session() as s:
        for row in s.scalars(select(Outbox)):
            row.created_at -= timedelta(hours=2)
    [closed] = await citizen_texts(hook, gateway, redis_conn, "1")
    assert the_ticket().status == "closed" and public_id in closed
    with db.session() as s:
        rows = s.scalars(select(Outbox).where(Outbox.channel == "sms")).all()
        assert rows and all(r.status == "sent" and (r.provider_message_id or "").startswith("SM") for r in rows)
        assert s.scalars(select(InboundMessage.status).where(InboundMessage.channel == "sms")).all() == [
            "processed"] * 4
    assert all(segments.length(s["text"]) <= 4 * 153 for s in gateway.sent)


async def resolved(api: FakeBotAPI, gateway: FakeSmsGateway, config: dict[str, Any], conn: redis.Redis,
                   public_id: str) -> str:
    """The officer resolves the ticket; → the SMS that asks her whether it is fixed."""
    before = len(gateway.sent)
    await officer_resolves(api, config, conn, public_id, "selesai, sudah disedot")
    assert the_ticket().status == "resolved"
    [question] = [str(s["text"]) for s in gateway.sent[before:]]
    assert public_id in question
    return question
