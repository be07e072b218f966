"""The WhatsApp webhook in `crophub web`: Meta's verification request, signed notifications stored (once) before
the 200, everything else refused; and the channel's section, status line and mounting through the hub."""
from __future__ import annotations

import copy
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

import bots
from bots.base import load
from bots.whatsapp import webhook
from bots.whatsapp.config import WhatsAppSettings
from hub import cli
from hub.settings import parse as parse_settings
from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import InboundMessage, Outbox, utcnow
from tests.conftest import fixture
from tests.fakes.whatsapp_api import APP_SECRET, ENV, VERIFY_TOKEN, body_of, env, sign

PATH = "/whatsapp/webhook"


@pytest.fixture
async def client(sqlite_url: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    webhook.route(app, PATH, VERIFY_TOKEN, APP_SECRET, Intake(db.configure(sqlite_url),
                                                               Queue(INTAKE_QUEUE, connection=redis_conn)))
    async with TestClient(TestServer(app)) as c:
        yield c


def stored() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


async def post(client: TestClient, payload: Any, headers: dict[str, str] | None = None) -> int:
    body = body_of(payload) if not isinstance(payload, bytes) else payload
    resp = await client.post(PATH, data=body, headers=sign(body) if headers is None else headers)
    return resp.status


async def test_the_verification_request_gets_its_challenge_back(client: TestClient) -> None:
    resp = await client.get(PATH, params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                                          "hub.challenge": "1158201444"})
    assert resp.status == 200 and await resp.text() == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"},
    {"hub.challenge": "1158201444"},
], ids=["wrong token", "wrong mode", "nothing"])
async def test_a_wrong_verification_request_is_refused(client: TestClient, params: dict[str, str]) -> None:
    resp = await client.get(PATH, params=params)
    assert resp.status == 403 and "1158201444" not in await resp.text()


async def test_a_signed_notification_is_stored_and_enqueued_once(client: TestClient, redis_conn: redis.Redis) -> None:
    for _ in range(2):  # Meta delivers again when it did not see our 200
        assert await post(client, fixture("whatsapp", "text_message")) == 200
    [row] = stored()
    assert row.channel == "whatsapp" and row.status == "received" and row.key.startswith("whatsapp:wamid.")
    assert row.message["address"] == {"channel": "whatsapp", "chat_id": "6281234567890", "bot": "106540352242922",
                                      "reply_to": row.key.removeprefix("whatsapp:"), "callback_id": None,
                                      "subject": None, "references": None}
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1


async def test_a_batch_stores_each_message_and_status(client: TestClient, redis_conn: redis.Redis) -> None:
    assert await post(client, fixture("whatsapp", "batch")) == 200
    rows = stored()
    assert [(r.status, r.reason) for r in rows] == [("received", None), ("received", None), ("ignored", "status callback")]
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1  # one job for the two messages
    assert await post(client, fixture("whatsapp", "status_sent")) == 200
    assert stored()[-1].reason == "status callback" and Queue(INTAKE_QUEUE, connection=redis_conn).count == 1


@pytest.mark.parametrize("headers", [
    {},
    {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    sign(b"{}"),  # a signature of another body
    sign(body_of(fixture("whatsapp", "text_message")), secret="another-app"),
    {"X-Hub-Signature-256": sign(body_of(fixture("whatsapp", "text_message")))["X-Hub-Signature-256"].upper()},
], ids=["missing", "wrong", "of another body", "with another secret", "not as sent"])
async def test_an_unsigned_or_wrongly_signed_notification_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    assert await post(client, fixture("whatsapp", "text_message"), headers) == 403
    assert stored() == []


async def test_a_signed_body_that_is_not_json_is_kept_rejected_and_answered(client: TestClient) -> None:
    assert await post(client, b"{not json") == 200  # Meta sending it again cannot mend it
    [row] = stored()
    assert row.status == "rejected" and str(row.reason).startswith("body is not JSON")


async def test_a_malformed_notification_is_stored_rejected_and_answered(client: TestClient) -> None:
    assert await post(client, fixture("whatsapp", "malformed_no_sender")) == 200  # a non-2xx: Meta only sends it again
    [row] = stored()
    assert row.status == "rejected" and row.reason == "message has no sender (from)"


def test_the_webhook_is_never_mounted_without_its_secrets() -> None:
    with pytest.raises(ValueError, match="must both be set"):
        webhook.route(web.Application(), PATH, VERIFY_TOKEN, "", intake=None)  # type: ignore[arg-type]


def test_the_section_says_what_is_missing_and_is_served_by_web(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*ENV.values(), "CROPHUB_WHATSAPP_TOKEN", "CROPHUB_WHATSAPP_APP_SECRET", "CROPHUB_WHATSAPP_VERIFY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    off = parse_settings({}).channel("whatsapp").status()
    assert off is not None and off.startswith("whatsapp: channel off: to turn it on, export CROPHUB_WHATSAPP_TOKEN=..., "
                                              "CROPHUB_WHATSAPP_APP_SECRET=..., CROPHUB_WHATSAPP_VERIFY_TOKEN=...")
    settings = parse_settings({"whatsapp": {**env(monkeypatch), "webhook_path": "/wa/hook", "api_version": "v23.0"}})
    section = settings.typed("whatsapp", WhatsAppSettings)
    assert section.status() is None and section.serves() and not section.listens()
    assert (section.webhook_path, section.api_version) == ("/wa/hook", "v23.0")
    assert [x for x in cli._listeners(settings, intake=None) if "whatsapp" in type(x).__module__] == []
    # As `crophub web` mounts it: the verification and the notification routes, at the configured path.
    app = web.Application()
    load(bots.channel("whatsapp").webhook or "")(app, section, None)
    assert {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None} == {
        ("GET", "/wa/hook"), ("HEAD", "/wa/hook"), ("POST", "/wa/hook")}


def test_a_typo_in_the_section_is_refused() -> None:
    with pytest.raises(Exception, match="whatsapp.webhook_pth"):
        parse_settings({"whatsapp": {"webhook_pth": "/wa"}})


def _sent_reply(provider_id: str) -> int:
    with db.session() as s:
        row = Outbox(dedupe_key=f"reply:{provider_id}", channel="whatsapp", chat_key="whatsapp:106540352242922:628123",
                     address={"channel": "whatsapp", "chat_id": "628123"}, text="Laporan diterima.", status="sent",
                     provider_message_id=provider_id, sent_at=utcnow())
        s.add(row)
        s.flush()
        return row.id


def _with_status(name: str, status: str, at: int) -> dict[str, Any]:
    payload = copy.deepcopy(fixture("whatsapp", name))
    found = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    found.update(status=status, timestamp=str(at))
    return payload


async def test_status_callbacks_are_kept_on_the_reply_they_are_about(client: TestClient) -> None:
    wamid = fixture("whatsapp", "status_sent")["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    reply = _sent_reply(wamid)
    for status, at in (("read", 1764036090), ("delivered", 1764036010), ("read", 1764036099)):  # late, out of order, again
        assert await post(client, _with_status("status_sent", status, at)) == 200
    with db.session() as s:
        row = s.get(Outbox, reply)
        assert row is not None and row.status == "sent"
        assert (row.delivered_at.timestamp(), row.read_at.timestamp()) == (1764036090, 1764036090)


async def test_a_failure_callback_fails_the_sent_reply_with_the_channel_s_reason(client: TestClient) -> None:
    wamid = fixture("whatsapp", "status_failed")["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    reply = _sent_reply(wamid)
    assert await post(client, fixture("whatsapp", "status_failed")) == 200
    assert await post(client, fixture("whatsapp", "status_failed")) == 200  # Meta's redelivery changes nothing
    with db.session() as s:
        row = s.get(Outbox, reply)
        assert row is not None and row.status == "failed" and row.delivered_at is None
        assert row.last_error == "whatsapp: not delivered: 131047 Re-engagement message"
    assert [r.reason for r in stored()] == ["status callback"]  # the notification is kept once, for the record
