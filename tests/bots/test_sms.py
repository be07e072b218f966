"""The SMS channel: the inbound webhook of the real mount (shared secret and HMAC-SHA256 refusal, one stored message
for a message delivered twice, malformed payloads stored as rejected), the sender against a fake gateway on loopback
speaking Twilio's and Vonage's send protocols (a text, error mapping, a numbered menu kept whole), phone numbers
masked in the logs, the channel registered the way a new channel is, and a report without a place asked for one by
SMS and filed. The splitting itself: test_sms_segments.py.

Payload shapes: tests/fixtures/sms/README.md (Twilio's and Vonage's inbound webhook documentation); the fake's
send protocols: tests/fakes/sms_gateway.py."""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator
from urllib.parse import urlencode

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from rq import Queue, SimpleWorker
from sqlalchemy import select

import bots
from bots import registry
from bots.errors import PermanentError, RateLimited, TransientError
from bots.sms import CHANNEL, segments, webhook
from bots.sms.config import SmsSettings
from bots.sms.send import SmsSender
from hub import settings as hub_settings
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from ingest.message import Address
from router import context
from router.context import RouterConfig
from router.replies import with_menu
from store import db
from store.models import InboundMessage, Ticket
from tests.conftest import fixture
from tests.fakes.sms_gateway import ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, FakeSmsGateway, twilio_error

SECRET = "sms-webhook-s3cret"
SECRET_ENV, USER_ENV, PASSWORD_ENV = "CROPHUB_TEST_SMS_SECRET", "CROPHUB_TEST_SMS_USER", "CROPHUB_TEST_SMS_PASSWORD"
CITIZEN, SHORT_NUMBER = "+6281298765432", "+622150851708"


# --- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway_server() -> Iterator[FakeSmsGateway]:
    server = FakeSmsGateway().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(gateway_server: FakeSmsGateway) -> FakeSmsGateway:
    gateway_server.reset()
    return gateway_server


def section(preset: str, gateway: FakeSmsGateway | None = None, **extra: Any) -> dict[str, Any]:
    """An sms config section for `preset`, its secrets in the test's variables, sending to the fake."""
    data: dict[str, Any] = {"preset": preset, "username_env": USER_ENV, "password_env": PASSWORD_ENV,
                            "inbound": {"secret_env": SECRET_ENV}}
    if gateway is not None:
        data["send_url"] = gateway.twilio_url if preset == "twilio" else gateway.vonage_url
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
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
    """Makes a test client of an app with the real mount for a config section (on both databases)."""
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


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HEADER = "X-Crophub-Sms-Secret"


# --- the inbound webhook -------------------------------------------------------------------------------------

async def test_twilio_form_with_the_secret_is_stored_once_though_delivered_twice(
        client: Client, twilio_env: None, redis_conn: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    c = await client(section("twilio"))
    body = urlencode(fixture("sms", "twilio_text"))
    caplog.set_level(logging.INFO)
    for _ in range(2):  # a gateway resends what it thinks we did not get
        resp = await c.post("/sms/inbound", data=body, headers={**FORM, HEADER: SECRET})
        assert resp.status == 200
        assert resp.content_type == "text/xml" and "<Response></Response>" in await resp.text()  # empty TwiML
    [row] = stored()
    assert row.channel == "sms" and row.status == "received" and row.key == "sms:SM5f3a9c2e7b1d4e60a8c9f0b1d2e3f4a5"
    assert row.message is not None
    assert row.message["address"] == {"channel": "sms", "chat_id": CITIZEN, "bot": SHORT_NUMBER, "reply_to": None,
                                      "callback_id": None, "subject": None, "references": None}
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1
    assert "*" * 11 + "432" in caplog.text and CITIZEN not in caplog.text  # phone numbers masked at INFO


@pytest.mark.parametrize("headers", [{}, {HEADER: "wrong"}, {HEADER: ""}], ids=["missing", "wrong", "empty"])
async def test_a_wrong_or_missing_secret_is_refused(client: Client, twilio_env: None, headers: dict[str, str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    c = await client(section("twilio"))
    resp = await c.post("/sms/inbound", data=urlencode(fixture("sms", "twilio_text")), headers={**FORM, **headers})
    assert resp.status == 403
    assert stored() == []
    assert "sms webhook: refused a request" in caplog.text
    assert ("no X-Crophub-Sms-Secret header" if not headers.get(HEADER) else "wrong secret") in caplog.text


async def test_vonage_json_signed_with_hmac_sha256(client: Client, vonage_env: None) -> None:
    c = await client(section("vonage", inbound={"auth": "hmac-sha256", "header": "X-Signature"}))
    body = json.dumps(fixture("sms", "vonage_text")).encode()
    resp = await c.post("/sms/inbound", data=body, headers={"Content-Type": "application/json",
                                                            "X-Signature": signed(body)})
    assert resp.status == 200 and await resp.text() == "ok"
    [row] = stored()
    assert row.key == "sms:0A00000012AB34CD" and row.message is not None and row.message["address"]["chat_id"] == "6281311223344"


@pytest.mark.parametrize("signature", ["", "sha256=00", "tampered", "other-secret"])
async def test_a_wrong_or_missing_signature_is_refused(client: Client, vonage_env: None, signature: str) -> None:
    c = await client(section("vonage", inbound={"auth": "hmac-sha256", "header": "X-Signature"}))
    body = json.dumps(fixture("sms", "vonage_text")).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "tampered":  # signed, then changed on the way
        headers["X-Signature"] = signed(body)
        body = body.replace(b"Pasar Minggu", b"Pasar Senen")
    elif signature == "other-secret":
        headers["X-Signature"] = signed(body, "not-the-secret")
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


async def test_a_configured_path_and_a_delivery_report(client: Client, vonage_env: None) -> None:
    c = await client(section("vonage", inbound={"path": "/hooks/1708"}))
    resp = await c.post("/hooks/1708", json=fixture("sms", "vonage_delivery_receipt"), headers={HEADER: SECRET})
    assert resp.status == 200
    [row] = stored()
    assert row.status == "ignored" and "delivery report" in (row.reason or "")
    assert (await c.post("/sms/inbound", json={}, headers={HEADER: SECRET})).status == 404


# --- the sender against the fake gateway ---------------------------------------------------------------------

TO = Address(channel="sms", chat_id=CITIZEN, bot=SHORT_NUMBER)


async def test_twilio_text_is_sent_from_the_number_written_to(gateway: FakeSmsGateway, twilio_env: None,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    sender = SmsSender(section("twilio", gateway))
    caplog.set_level(logging.INFO)
    sid = await sender.send(TO, "Laporan diterima. Nomor tiket JKT-0042.", {"language": "id"})
    assert sid.startswith("SM") and len(sid) == 34
    assert gateway.sent == [{"preset": "twilio", "to": CITIZEN, "from": SHORT_NUMBER,
                             "text": "Laporan diterima. Nomor tiket JKT-0042."}]
    assert CITIZEN not in caplog.text and "432" in caplog.text
    assert await sender.send(TO, "  ", {"clear_buttons": "SM1"}) == "" and len(gateway.sent) == 1  # nothing to say


async def test_the_configured_number_when_the_address_names_none(gateway: FakeSmsGateway, twilio_env: None) -> None:
    await SmsSender(section("twilio", gateway, number="1708")).send(Address(channel="sms", chat_id=CITIZEN), "Halo")
    assert gateway.sent[-1]["from"] == "1708"
    with pytest.raises(PermanentError, match="no number to send from"):
        await SmsSender(section("twilio", gateway)).send(Address(channel="sms", chat_id=CITIZEN), "Halo")


async def test_vonage_json_marks_unicode_and_returns_the_message_id(gateway: FakeSmsGateway, vonage_env: None) -> None:
    sender = SmsSender(section("vonage", gateway))
    to = Address(channel="sms", chat_id="6281311223344", bot="622150851708")
    message_id = await sender.send(to, "Terima kasih 🙏 laporan Anda kami terima.")
    assert message_id.startswith("0C")
    assert gateway.sent[-1] == {"preset": "vonage", "to": "6281311223344", "from": "622150851708",
                                "text": "Terima kasih 🙏 laporan Anda kami terima.", "type": "unicode"}
    await sender.send(to, "Laporan diterima.")
    assert gateway.sent[-1]["type"] == "text"  # GSM-7: no type, Vonage's default


async def test_a_numbered_menu_survives_the_cut_of_a_long_question(gateway: FakeSmsGateway, twilio_env: None) -> None:
    extras = {"buttons": [[{"label": "Sudah", "value": "ya"}, {"label": "Belum", "value": "tidak"}]], "language": "id"}
    question = "Petugas melaporkan genangan di Jl. Jatinegara Barat sudah surut. " * 12 + "Apakah benar sudah surut?"
    text = with_menu(question, extras, TO)  # what the outbox sends a channel without buttons
    await SmsSender(section("twilio", gateway, max_parts=2)).send(TO, text, extras)
    sent = gateway.sent[-1]["text"]
    assert sent.endswith("...\n\nBalas dengan angka pilihan Anda:\n1. Sudah\n2. Belum")
    assert segments.length(sent) <= 2 * 153


async def test_a_long_reply_goes_as_one_concatenated_request_cut_to_the_cap(gateway: FakeSmsGateway,
                                                                             twilio_env: None) -> None:
    text = "Petugas sedang menuju lokasi banjir di Kampung Melayu. " * 30
    await SmsSender(section("twilio", gateway, max_parts=3)).send(TO, text)
    [sent] = gateway.sent
    assert sent["text"].endswith("...") and 2 * 153 < segments.length(sent["text"]) <= 3 * 153


async def test_separate_parts_are_sent_in_order_and_a_retry_sends_only_the_rest(gateway: FakeSmsGateway,
                                                                                 twilio_env: None) -> None:
    sender = SmsSender(section("twilio", gateway, concatenate=False, max_parts=3))
    text = " ".join(f"langkah{i}" for i in range(45))  # about 400 characters: 3 parts of 160
    gateway.fail_next(503, twilio_error(503, 20500, "Internal Server Error"))
    with pytest.raises(TransientError):
        await sender.send(TO, text)
    # The first request failed: nothing went. Now the second part fails once the first has gone.
    first = await _send_failing_second(gateway, sender, text)
    assert first.startswith("SM")
    texts = [s["text"] for s in gateway.sent]
    assert len(texts) == 3 and " ".join(texts) == text  # part 1 once, then parts 2 and 3 on the retry
    assert all(segments.length(t) <= 160 for t in texts)


async def _send_failing_second(gateway: FakeSmsGateway, sender: SmsSender, text: str) -> str:
    real = sender._post
    calls = 0

    async def flaky(*args: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TransientError("sms: gateway unreachable: simulated")
        return await real(*args)

    sender._post = flaky  # type: ignore[method-assign,assignment]
    with pytest.raises(TransientError):
        await sender.send(TO, text)
    sender._post = real  # type: ignore[method-assign]
    return await sender.send(TO, text)


@pytest.mark.parametrize("status, body, headers, error, detail", [
    (429, twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": "7"}, RateLimited, "20429"),
    (429, "slow down", {}, RateLimited, "slow down"),
    (500, twilio_error(500, 20500, "Internal Server Error"), {}, TransientError, "20500"),
    (503, "<html>Service Unavailable</html>", {}, TransientError, "503"),
    (400, twilio_error(400, 21211, f"The 'To' number {CITIZEN} is not a valid phone number."), {}, PermanentError, "21211"),
    (401, twilio_error(401, 20003, "Authenticate"), {}, PermanentError, "20003"),
])
async def test_gateway_errors_are_mapped(gateway: FakeSmsGateway, twilio_env: None, status: int, body: Any,
                                         headers: dict[str, str], error: type[Exception], detail: str) -> None:
    gateway.fail_next(status, body, headers)
    with pytest.raises(error) as caught:
        await SmsSender(section("twilio", gateway)).send(TO, "Laporan diterima.")
    assert detail in str(caught.value) and CITIZEN not in str(caught.value)  # the outbox logs and keeps it
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == (7.0 if headers else 5.0)


async def test_wrong_credentials_are_permanent(gateway: FakeSmsGateway, twilio_env: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PermanentError, match="20003"):
        await SmsSender(section("twilio", gateway)).send(TO, "Halo")
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(PermanentError, match="no gateway credentials"):
        await SmsSender(section("twilio", gateway)).send(TO, "Halo")


async def test_vonage_statuses_in_a_200_are_mapped(gateway: FakeSmsGateway, vonage_env: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sender = SmsSender(section("vonage", gateway))
    to = Address(channel="sms", chat_id="6281311223344", bot="1708")
    gateway.fail_next(200, {"message-count": "1", "messages": [{"status": "1", "error-text": "Throughput Rate Exceeded"}]})
    with pytest.raises(RateLimited):
        await sender.send(to, "Halo")
    gateway.fail_next(200, {"message-count": "1", "messages": [{"status": "5", "error-text": "Internal Error"}]})
    with pytest.raises(TransientError):
        await sender.send(to, "Halo")
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PermanentError, match="Bad Credentials"):
        await SmsSender(section("vonage", gateway)).send(to, "Halo")


async def test_an_unreachable_gateway_is_transient(twilio_env: None) -> None:
    sender = SmsSender({**section("twilio"), "send_url": "http://127.0.0.1:9/2010-04-01/Messages.json", "timeout": 2})
    with pytest.raises(TransientError, match="unreachable"):
        await sender.send(TO, "Halo")


# --- the channel as the hub sees it --------------------------------------------------------------------------

@pytest.fixture
def with_sms(monkeypatch: pytest.MonkeyPatch) -> type[hub_settings.CoreSettings]:
    if "sms" not in bots.BY_NAME:  # until bots/__init__.py names it (then it is there already)
        monkeypatch.setattr(bots, "CHANNELS", (*bots.CHANNELS, CHANNEL))
        monkeypatch.setitem(bots.BY_NAME, "sms", CHANNEL)
    for name in (SECRET_ENV, USER_ENV, PASSWORD_ENV, "CROPHUB_SMS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return hub_settings._with_channels()


def test_the_settings_model_picks_up_the_sms_section(with_sms: type[hub_settings.CoreSettings],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = with_sms.model_validate({"sms": section("vonage", max_parts=2, fields={"text": "message"})})
    sms = settings.channel("sms")
    assert isinstance(sms, SmsSettings) and sms.max_parts == 2 and sms.inbound_fields().text == "message"
    assert sms.inbound_fields().sender == "msisdn"  # the rest stay the preset's
    assert not sms.listens() and sms.serves()
    assert (sms.status() or "").startswith("sms: channel off: no webhook secret")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert (sms.status() or "").startswith("sms: channel off: no gateway credentials")
    monkeypatch.setenv(USER_ENV, API_KEY)
    monkeypatch.setenv(PASSWORD_ENV, API_SECRET)
    assert sms.status() is None
    default = with_sms.model_validate({}).channel("sms")
    assert isinstance(default, SmsSettings)
    assert default.preset == "twilio" and default.inbound.path == "/sms/inbound"
    assert default.url() == "https://api.twilio.com/2010-04-01/Accounts//Messages.json"
    with pytest.raises(ValidationError, match="sms.max_part"):
        with_sms.model_validate({"sms": {"max_part": 2}})
    with pytest.raises(ValidationError, match="sms.preset"):
        with_sms.model_validate({"sms": {"preset": "nexmo"}})


async def test_the_registry_builds_its_sender_from_the_section(with_sms: type[hub_settings.CoreSettings], gateway: FakeSmsGateway,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)
    settings = with_sms.model_validate({"sms": section("twilio", gateway)})
    assert not registry.offers("sms", "buttons") and not registry.offers("sms", "locations")
    assert not registry.offers("sms", "locations")
    registry.configure({"sms": settings.channel("sms").sender_config()})
    try:
        sid = await registry.new("sms").send(TO, "Laporan diterima.")
    finally:
        registry.configure({})
    assert sid.startswith("SM") and gateway.sent[-1]["text"] == "Laporan diterima."


# --- a conversation through the router -----------------------------------------------------------------------

def work(conn: redis.Redis) -> None:
    """Run every queued intake, pipeline and outbox job in this process."""
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def test_a_report_without_a_place_is_asked_for_one_by_sms_and_becomes_a_ticket(
        with_sms: type[hub_settings.CoreSettings], client: Client, gateway: FakeSmsGateway, twilio_env: None,
        redis_conn: redis.Redis) -> None:
    config = section("twilio", gateway)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"sms": SmsSettings.model_validate(config).sender_config()})
    c = await client(config)
    said = itertools.count(1)

    async def citizen_says(text: str) -> str:
        form = {**fixture("sms", "twilio_text"), "Body": text, "MessageSid": f"SM{next(said):032x}"}
        resp = await c.post("/sms/inbound", data=urlencode(form), headers={**FORM, HEADER: SECRET})
        assert resp.status == 200
        work(redis_conn)  # blocks this loop: fine, the fake gateway serves from its own thread
        return gateway.sent[-1]["text"] if gateway.sent else ""

    try:
        asked = await citizen_says("Banjir setinggi lutut, motor tidak bisa lewat")
        assert gateway.sent and all(s["to"] == CITIZEN and s["from"] == SHORT_NUMBER for s in gateway.sent)
        with db.session() as s:
            [waiting] = s.scalars(select(Ticket)).all()
            assert waiting.status == "needs_info" and waiting.kelurahan_kode is None
        # Asked to type the place (SMS has no location button), in GSM-7 (the template's dash sent as "-").
        assert "balas dengan alamat" in asked and "Lokasi: belum diketahui - balas" in asked
        assert segments.encoding(asked) == "gsm7" and not asked.endswith("...")  # whole: not cut
        answer = await citizen_says("Jl. Jatinegara Barat RT 03/RW 05, Kampung Melayu, Jatinegara")
    finally:
        registry.configure({})
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        assert ticket.category == "flood" and ticket.kelurahan_kode is not None
        public_id = ticket.public_id
    assert public_id is not None and public_id in asked and public_id in answer and answer != asked
    assert all(segments.length(s["text"]) <= 4 * 153 for s in gateway.sent)
