"""The SMS channel's inbound webhook, as `crophub web` mounts it (SQLite and PostgreSQL): Twilio's X-Twilio-Signature
(keyed with the auth token, over the URL Twilio was given and the sorted form fields), the shared secret and the
HMAC-SHA256 of the body; one stored message for a message delivered twice; malformed payloads stored as rejected;
and the gateways' delivery reports kept on the outbox rows of the replies sent through the fake gateway.

Payload shapes: tests/fixtures/sms/README.md; the gateway's side: tests/fakes/sms_gateway.py."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlencode

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

from bots import registry
from bots.sms import auth, webhook
from bots.sms.config import SmsSettings
from ingest.intake import INTAKE_QUEUE, Intake
from ingest.message import Address
from router import context, replies
from router.context import RouterConfig
from store import db
from store.models import InboundMessage, Outbox
from tests.conftest import fixture
from tests.fakes.sms_gateway import (ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, FORM, PASSWORD_ENV, SECRET,
                                     SECRET_ENV, USER_ENV, FakeSmsGateway, section, signed_by_twilio, twilio_signature)

CITIZEN = "+6281298765432"
HEADER = "X-Crophub-Sms-Secret"
PUBLIC_URL = "https://lapor.jakarta.example/sms/inbound"  # what Twilio was given; a proxy forwards to crophub web




@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)


@pytest.fixture
def vonage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(USER_ENV, API_KEY)
    monkeypatch.setenv(PASSWORD_ENV, API_SECRET)


Client = Callable[[dict[str, Any]], Awaitable[TestClient]]


@pytest.fixture
async def client(db_url: str, redis_conn: redis.Redis) -> AsyncIterator[Client]:
    """Makes a test client of an app with the real mount for a config section."""
    intake = Intake(db.configure(db_url), Queue(INTAKE_QUEUE, connection=redis_conn))
    clients: list[TestClient] = []

    async def make(config: dict[str, Any]) -> TestClient:
        app = web.Application()
        webhook.mount(app, SmsSettings.model_validate(config), intake)
        c = TestClient(TestServer(app))
        await c.start_server()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


def stored() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def hmac_hex(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def post_twilio(c: TestClient, form: dict[str, str], url: str | None = None, token: str = AUTH_TOKEN,
                      path: str = "/sms/inbound") -> int:
    """Twilio's POST of `form`, signed for `url` (default: the URL the test server is reached at)."""
    body, headers = signed_by_twilio(url or str(c.make_url(path)), form, token)
    return (await c.post(path, data=body, headers=headers)).status


# --- who may post ------------------------------------------------------------------------------------------------

def test_the_signature_is_twilios_documented_example() -> None:
    # The worked example of Twilio's webhook security documentation: its URL, its POST fields and auth token 12345.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert auth.twilio_signature("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert twilio_signature(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="  # the fake signs alike


async def test_a_form_signed_by_twilio_is_stored_once_though_delivered_twice(
        client: Client, twilio_env: None, redis_conn: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    c = await client(section("twilio"))
    caplog.set_level(logging.INFO)
    body, headers = signed_by_twilio(str(c.make_url("/sms/inbound")), fixture("sms", "twilio_text"))
    for _ in range(2):  # a gateway resends what it thinks we did not get
        resp = await c.post("/sms/inbound", data=body, headers=headers)
        assert resp.status == 200
        assert resp.content_type == "text/xml" and "<Response></Response>" in await resp.text()  # empty TwiML
    [row] = stored()
    assert row.channel == "sms" and row.status == "received" and row.key == "sms:SM5f3a9c2e7b1d4e60a8c9f0b1d2e3f4a5"
    assert row.message is not None
    assert row.message["address"] == {"channel": "sms", "chat_id": CITIZEN, "bot": "+622150851708", "reply_to": None,
                                      "callback_id": None, "subject": None, "references": None}
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1
    assert "*" * 11 + "432" in caplog.text and CITIZEN not in caplog.text  # phone numbers masked at INFO


@pytest.mark.parametrize("case", ["missing", "another auth token", "changed body", "another URL", "a secret header"])
async def test_a_request_twilio_did_not_sign_is_refused(client: Client, twilio_env: None, case: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    c = await client(section("twilio"))
    form = fixture("sms", "twilio_text")
    url = str(c.make_url("/sms/inbound"))
    body, headers = signed_by_twilio(url, form, "not-the-auth-token" if case == "another auth token" else AUTH_TOKEN)
    if case == "missing":
        del headers["X-Twilio-Signature"]
    elif case == "changed body":  # signed, then changed on the way
        body = urlencode({**form, "Body": "Tidak ada banjir, laporan dibatalkan"})
    elif case == "another URL":
        body, headers = signed_by_twilio(url.replace("/sms/inbound", "/other/path"), form)
    elif case == "a secret header":  # the shared secret is no Twilio signature
        headers = {**FORM, HEADER: SECRET}
    resp = await c.post("/sms/inbound", data=body, headers=headers)
    assert resp.status == 403 and stored() == []
    assert "sms webhook: refused a request" in caplog.text
    assert ("no X-Twilio-Signature header" if case in ("missing", "a secret header") else "wrong X-Twilio-Signature") \
        in caplog.text


async def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(client: Client, twilio_env: None) -> None:
    c = await client(section("twilio", inbound={"public_url": PUBLIC_URL}))
    form = fixture("sms", "twilio_text")
    assert await post_twilio(c, form) == 403  # signed for the URL crophub web sees: not the one Twilio signs
    assert await post_twilio(c, form, PUBLIC_URL.replace(".example/", ".example:443/")) == 200  # the default port
    assert await post_twilio(c, {**form, "MessageSid": "SM2"}, PUBLIC_URL) == 200
    assert [r.key for r in stored()] == ["sms:SM5f3a9c2e7b1d4e60a8c9f0b1d2e3f4a5", "sms:SM2"]


async def test_a_json_body_is_covered_by_a_twilio_signature_only_with_its_hash_in_the_url(client: Client,
                                                                                         twilio_env: None) -> None:
    c = await client(section("twilio"))
    body = json.dumps(fixture("sms", "twilio_text")).encode()
    url = str(c.make_url("/sms/inbound"))
    unbound = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(url, {})}
    assert (await c.post("/sms/inbound", data=body, headers=unbound)).status == 403  # any body would pass
    query = f"?bodySHA256={hashlib.sha256(body).hexdigest()}"
    bound = {"Content-Type": "application/json", "X-Twilio-Signature": twilio_signature(url + query, {})}
    assert (await c.post("/sms/inbound" + query, data=body, headers=bound)).status == 200
    assert (await c.post("/sms/inbound" + query, data=body + b" ", headers=bound)).status == 403


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: ""}], ids=["missing", "wrong", "empty"])
async def test_a_wrong_or_missing_secret_is_refused(client: Client, vonage_env: None, headers: dict[str, str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    c = await client(section("vonage"))  # the vonage preset's check: a shared secret a proxy adds
    resp = await c.post("/sms/inbound", json=fixture("sms", "vonage_text"), headers=headers)
    assert resp.status == 403 and stored() == []
    assert ("no X-Crophub-Sms-Secret header" if not headers.get(HEADER) else "wrong secret") in caplog.text
    resp = await c.post("/sms/inbound", json=fixture("sms", "vonage_text"), headers={HEADER: SECRET})
    assert resp.status == 200 and await resp.text() == "ok" and len(stored()) == 1


async def test_twilio_with_the_shared_secret_when_configured(client: Client, twilio_env: None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    c = await client(section("twilio", inbound={"auth": "secret"}))
    body = urlencode(fixture("sms", "twilio_text"))
    assert (await c.post("/sms/inbound", data=body, headers={**FORM, HEADER: SECRET})).status == 200
    assert [r.status for r in stored()] == ["received"]


async def test_vonage_json_signed_with_hmac_sha256(client: Client, vonage_env: None) -> None:
    c = await client(section("vonage", inbound={"auth": "hmac-sha256", "header": "X-Signature"}))
    body = json.dumps(fixture("sms", "vonage_text")).encode()
    resp = await c.post("/sms/inbound", data=body, headers={"Content-Type": "application/json",
                                                            "X-Signature": hmac_hex(body)})
    assert resp.status == 200 and await resp.text() == "ok"
    [row] = stored()
    assert row.key == "sms:0A00000012AB34CD" and row.message is not None and row.message["address"]["chat_id"] == "6281311223344"


@pytest.mark.parametrize("signature", ["", "sha256=00", "tampered", "other-secret"])
async def test_a_wrong_or_missing_signature_is_refused(client: Client, vonage_env: None, signature: str) -> None:
    c = await client(section("vonage", inbound={"auth": "hmac-sha256", "header": "X-Signature"}))
    body = json.dumps(fixture("sms", "vonage_text")).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "tampered":  # signed, then changed on the way
        headers["X-Signature"] = hmac_hex(body)
        body = body.replace(b"Pasar Minggu", b"Pasar Senen")
    elif signature == "other-secret":
        headers["X-Signature"] = hmac_hex(body, "not-the-secret")
    elif signature:
        headers["X-Signature"] = signature
    resp = await c.post("/sms/inbound", data=body, headers=headers)
    assert resp.status == 403
    assert stored() == []


async def test_base64_signatures_are_read_when_configured(client: Client, vonage_env: None) -> None:
    c = await client(section("vonage", inbound={"auth": "hmac-sha256", "header": "X-Signature",
                                                "signature_encoding": "base64"}))
    body = json.dumps(fixture("sms", "vonage_unicode")).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    resp = await c.post("/sms/inbound", data=body, headers={"Content-Type": "application/json", "X-Signature": signature})
    assert resp.status == 200 and stored()[0].key == "sms:0A00000012AB34CE"


@pytest.mark.parametrize("body, reason", [
    (json.dumps(fixture("sms", "vonage_missing_type")), "type"),
    ("{not json", "not JSON"),
])
async def test_a_malformed_payload_is_stored_rejected_and_answered_200(client: Client, vonage_env: None, body: str,
                                                                       reason: str) -> None:
    c = await client(section("vonage"))
    resp = await c.post("/sms/inbound", data=body, headers={"Content-Type": "application/json", HEADER: SECRET})
    assert resp.status == 200  # anything else and the gateway resends it for a day
    [row] = stored()
    assert row.status == "rejected" and reason in (row.reason or "")


# --- delivery reports ----------------------------------------------------------------------------------------------

@pytest.fixture
def outbox(db_url: str, redis_conn: redis.Redis) -> Iterator[Callable[[dict[str, Any], list[Address]], list[Outbox]]]:
    """Sends replies through the real outbox to the fake gateway; → their rows."""
    db.configure(db_url)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)

    def send(config: dict[str, Any], to: list[Address]) -> list[Outbox]:
        registry.configure({"sms": SmsSettings.model_validate(config).sender_config()})
        with db.session() as s:
            ids = replies.store(s, [replies.reply(a, f"Laporan {n} diterima.", f"test:{n}") for n, a in enumerate(to)])
        replies.send_outbox(ids)
        return [row for row in rows() if row.id in ids]

    yield send
    registry.configure({})


def rows() -> list[Outbox]:
    with db.session() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


async def test_twilio_status_callbacks_are_kept_on_the_replies_they_are_about(
        client: Client, gateway: FakeSmsGateway, twilio_env: None, outbox: Any) -> None:
    config = section("twilio", gateway, inbound={"public_url": PUBLIC_URL})
    to = [Address(channel="sms", chat_id=n, bot="+622150851708") for n in (CITIZEN, "+6281311110000", "+6281322220000")]
    delivered, failed, silent = await asyncio.to_thread(outbox, config, to)
    assert all(r.status == "sent" and r.provider_message_id in gateway.ids for r in (delivered, failed, silent))
    assert gateway.sent[0]["status_callback"] == PUBLIC_URL  # Twilio is asked to post them to the webhook
    c = await client(config)
    for form in (gateway.status_callback(delivered.provider_message_id, "sent"),
                 gateway.status_callback(delivered.provider_message_id, "delivered"),
                 gateway.status_callback(failed.provider_message_id, "undelivered", "30003"),
                 {**gateway.status_callback(silent.provider_message_id, "failed", "30008"),
                  "MessageSid": "SM" + "f" * 32, "SmsSid": "SM" + "f" * 32},  # not one of ours
                 gateway.status_callback(delivered.provider_message_id, "delivered")):  # Twilio's redelivery
        assert await post_twilio(c, form, PUBLIC_URL) == 200
    after = {r.id: r for r in rows()}
    assert after[delivered.id].status == "sent" and after[delivered.id].delivered_at is not None
    assert after[failed.id].status == "failed" and after[failed.id].delivered_at is None
    assert after[failed.id].last_error == "sms: not delivered: undelivered (error 30003)"
    assert (after[silent.id].status, after[silent.id].delivered_at, after[silent.id].last_error) == ("sent", None, None)
    # Each report kept once, for the record; none is a citizen's message.
    assert [(r.key.rsplit(":", 1)[1], r.status) for r in stored()] == [
        ("sent", "ignored"), ("delivered", "ignored"), ("undelivered", "ignored"), ("failed", "ignored")]


async def test_vonage_delivery_receipts_are_kept_on_the_replies_they_are_about(
        client: Client, gateway: FakeSmsGateway, vonage_env: None, outbox: Any) -> None:
    config = section("vonage", gateway)
    to = [Address(channel="sms", chat_id=n, bot="622150851708") for n in ("6281311223344", "6281300001111",
                                                                         "6281300002222", "6281300003333")]
    delivered, rejected, expired, buffered = await asyncio.to_thread(outbox, config, to)
    c = await client(config)
    for receipt in (gateway.delivery_receipt(delivered.provider_message_id, "delivered"),
                    gateway.delivery_receipt(rejected.provider_message_id, "rejected", "6"),
                    gateway.delivery_receipt(expired.provider_message_id, "expired", "2"),
                    gateway.delivery_receipt(buffered.provider_message_id, "buffered"),  # on its way: nothing yet
                    {**gateway.delivery_receipt(delivered.provider_message_id, "failed", "99"),
                     "messageId": "0C00000000FFFFFF"}):  # not one of ours
        assert (await c.post("/sms/inbound", json=receipt, headers={HEADER: SECRET})).status == 200
    after = {r.id: r for r in rows()}
    when = after[delivered.id].delivered_at
    assert when is not None and after[delivered.id].status == "sent"
    assert when.strftime("%Y-%m-%d %H:%M:%S") == "2025-02-03 01:15:50"  # Vonage's time
    assert after[rejected.id].status == "failed" and after[rejected.id].last_error == "sms: not delivered: rejected (error 6)"
    assert after[expired.id].status == "failed" and after[expired.id].last_error == "sms: not delivered: expired (error 2)"
    assert (after[buffered.id].status, after[buffered.id].delivered_at) == ("sent", None)
    assert all(r.status == "ignored" and r.reason == "delivery report of a sent SMS" for r in stored())


async def test_a_configured_path_and_the_fixtures_delivery_receipt(client: Client, vonage_env: None) -> None:
    c = await client(section("vonage", inbound={"path": "/hooks/1708"}))
    resp = await c.post("/hooks/1708", json=fixture("sms", "vonage_delivery_receipt"), headers={HEADER: SECRET})
    assert resp.status == 200
    [row] = stored()
    assert row.status == "ignored" and row.key == "sms:status:0C00000034EF56AB:delivered"
    assert (await c.post("/sms/inbound", json={}, headers={HEADER: SECRET})).status == 404
