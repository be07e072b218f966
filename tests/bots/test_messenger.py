"""The Messenger channel end to end at its edges: Meta's webhook handshake and signatures through the real aiohttp
mount, storing before the 200, replays stored once (both databases), the sender against the fake Graph API (text,
quick replies, every error mapping), and the hub picking the channel up from its declaration alone.

Payloads are the fixtures in tests/fixtures/messenger (real Messenger Platform webhook shapes, see its README); the
fake's error bodies are Graph API error JSON as Meta's Messenger error-code reference shows it."""
from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from rq import Queue
from sqlalchemy import select

import bots
from bots import messenger, registry
from bots.base import ChannelSettings, load
from bots.errors import PermanentError, RateLimited, TransientError
from bots.messenger.config import MessengerSettings
from bots.messenger.send import MessengerSender
from bots.messenger.webhook import SIGNATURE_HEADER, mount, route
from hub import cli, settings as hub_settings
from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address
from store import db
from store.models import InboundMessage
from tests.conftest import fixture
from tests.fakes import messenger_api
from tests.fakes.messenger_api import FakeGraphAPI, meta_signature

# Not the default variable names: the channel is on in a test only when the test asks.
TOKEN_ENV, SECRET_ENV, VERIFY_ENV = ("CROPHUB_TEST_MESSENGER_PAGE_TOKEN", "CROPHUB_TEST_MESSENGER_APP_SECRET",
                                     "CROPHUB_TEST_MESSENGER_VERIFY_TOKEN")
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY_TOKEN = "crophub-verify-7f3a"
PATH = "/messenger/webhook"
PSID = "7123456789012345"




@pytest.fixture
def config(graph: FakeGraphAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A messenger section pointed at the fake Graph API, its secrets in the variables it names."""
    monkeypatch.setenv(TOKEN_ENV, graph.token)
    monkeypatch.setenv(SECRET_ENV, APP_SECRET)
    monkeypatch.setenv(VERIFY_ENV, VERIFY_TOKEN)
    return {"page_token_env": TOKEN_ENV, "app_secret_env": SECRET_ENV, "verify_token_env": VERIFY_ENV,
            "graph_base_url": graph.base_url, "api_version": graph.version, "rate_limit_wait": 45}


def intake_for(url: str, conn: redis.Redis) -> Intake:
    return Intake(db.configure(url), Queue(INTAKE_QUEUE, connection=conn))


@pytest.fixture
async def client(sqlite_url: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    route(app, PATH, VERIFY_TOKEN, APP_SECRET, intake_for(sqlite_url, redis_conn))
    async with TestClient(TestServer(app)) as c:
        yield c


def stored() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def body_of(name: str) -> bytes:
    return json.dumps(fixture("messenger", name)).encode()


async def post(client: TestClient, body: bytes, signature: str | None = "meta") -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "meta":
        headers[SIGNATURE_HEADER] = meta_signature(body, APP_SECRET)
    elif signature is not None:
        headers[SIGNATURE_HEADER] = signature
    return await client.post(PATH, data=body, headers=headers)


# --- the verification handshake ------------------------------------------------------------------------------------

async def test_verification_answers_the_challenge(client: TestClient) -> None:
    resp = await client.get(PATH, params={"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                          "hub.verify_token": VERIFY_TOKEN})
    assert resp.status == 200 and await resp.text() == "1158201444"


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "guessed"},
    {"hub.mode": "unsubscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN},
    {"hub.mode": "subscribe", "hub.challenge": "1158201444"},
    {},
], ids=["wrong-token", "wrong-mode", "no-token", "nothing"])
async def test_verification_with_a_wrong_token_or_mode_is_refused(client: TestClient, params: dict[str, str]) -> None:
    resp = await client.get(PATH, params=params)
    assert resp.status == 403 and "1158201444" not in await resp.text()


# --- signatures ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("signature", [
    None,
    "sha256=" + "0" * 64,
    meta_signature(b"{}", APP_SECRET),  # Meta's signature, of another body
    meta_signature(body_of("text_message"), "not-the-app-secret"),
    "sha1=" + "0" * 40,
    "",
], ids=["missing", "zeros", "other-body", "other-secret", "sha1", "empty"])
async def test_a_wrong_or_missing_signature_is_refused(client: TestClient, signature: str | None,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    resp = await post(client, body_of("text_message"), signature)
    assert resp.status == 403
    assert stored() == []
    assert "messenger webhook: refused a POST" in caplog.text  # logged with its reason
    assert PSID not in caplog.text


async def test_a_signed_message_is_stored_and_answered(client: TestClient, redis_conn: redis.Redis) -> None:
    resp = await post(client, body_of("text_message"))
    assert resp.status == 200 and await resp.text() == "EVENT_RECEIVED"
    [row] = stored()
    assert row.status == "received" and row.channel == "messenger" and row.key.startswith("messenger:m_AG5Hz2")
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1


async def test_the_same_message_delivered_twice_is_stored_once(db_url: str, redis_conn: redis.Redis) -> None:
    app = web.Application()
    route(app, PATH, VERIFY_TOKEN, APP_SECRET, intake_for(db_url, redis_conn))
    async with TestClient(TestServer(app)) as c:
        for _ in range(2):  # Meta delivers again when it did not see our 200 in time
            resp = await post(c, body_of("text_message"))
            assert resp.status == 200
    [row] = stored()
    assert row.status == "received"
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1


async def test_a_batch_stores_every_event_and_skips_receipts_and_echoes(client: TestClient) -> None:
    for name in ("batch_two_senders", "echo", "delivery"):
        assert (await post(client, body_of(name))).status == 200
    rows = stored()
    assert [r.status for r in rows].count("received") == 2
    assert sorted(str(r.reason) for r in rows if r.status == "ignored") == ["delivery receipt", "our own message (echo)"]


async def test_a_malformed_payload_is_stored_rejected_and_answered(client: TestClient) -> None:
    resp = await post(client, body_of("malformed_no_mid"))
    assert resp.status == 200  # anything else only makes Meta send it again
    [row] = stored()
    assert row.status == "rejected" and row.reason == "message has no mid"


async def test_a_signed_body_that_is_not_json_is_kept_rejected(client: TestClient) -> None:
    resp = await post(client, b"{not json")
    assert resp.status == 200
    [row] = stored()
    assert row.status == "rejected" and str(row.reason).startswith("body is not JSON")


class _Broken(Intake):
    def __init__(self) -> None:
        pass

    def accept(self, batch: Batch) -> list[int]:
        raise RuntimeError("database is down")


async def test_nothing_is_acknowledged_before_it_is_stored() -> None:
    app = web.Application()
    route(app, PATH, VERIFY_TOKEN, APP_SECRET, _Broken())
    async with TestClient(TestServer(app)) as c:
        resp = await post(c, body_of("text_message"))
    assert resp.status == 500  # not 200: Meta delivers it again later


async def test_mount_reads_the_secrets_from_the_section(config: dict[str, Any], sqlite_url: str,
                                                        redis_conn: redis.Redis) -> None:
    app = web.Application()
    mount(app, MessengerSettings.model_validate({**config, "webhook_path": "/hooks/fb"}), intake_for(sqlite_url, redis_conn))
    async with TestClient(TestServer(app)) as c:
        resp = await c.get("/hooks/fb", params={"hub.mode": "subscribe", "hub.challenge": "42",
                                                "hub.verify_token": VERIFY_TOKEN})
        assert await resp.text() == "42"
        body = body_of("postback")
        resp = await c.post("/hooks/fb", data=body, headers={SIGNATURE_HEADER: meta_signature(body, APP_SECRET)})
        assert resp.status == 200
    [row] = stored()
    assert row.status == "received" and (row.message or {}).get("text") == "/lapor banjir"


# --- the sender against the fake Graph API -------------------------------------------------------------------------

@pytest.fixture
async def sender(config: dict[str, Any]) -> AsyncIterator[MessengerSender]:
    found = MessengerSender(config)
    yield found
    await found.close()


TO = Address(channel="messenger", chat_id=PSID, bot=messenger_api.PAGE_ID)


async def test_a_text_reply(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    sent = await sender.send(TO, "Laporan diterima: JKT-2025-000123.")
    [body] = graph.sent
    assert sent == body["message_id"] and sent.startswith("m_")
    assert body["recipient"] == {"id": PSID} and body["messaging_type"] == "RESPONSE"
    assert body["message"] == {"text": "Laporan diterima: JKT-2025-000123."}


async def test_buttons_become_quick_replies(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    buttons = [[{"label": "Sudah", "value": "sudah"}, {"label": "Belum", "value": "belum"}],
               [{"label": "Saluran air tersumbat parah", "value": "/kategori drainage"}]]
    await sender.send(TO, "Apakah sudah ditangani?", {"buttons": buttons})
    [body] = graph.sent
    assert body["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Sudah", "payload": "sudah"},
        {"content_type": "text", "title": "Belum", "payload": "belum"},
        {"content_type": "text", "title": "Saluran air tersumb…", "payload": "/kategori drainage"},  # 20 characters
    ]


async def test_more_than_thirteen_buttons_send_the_first_thirteen(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    await sender.send(TO, "Pilih kategori:", {"buttons": [[{"label": f"K{i}", "value": str(i)}] for i in range(20)]})
    [body] = graph.sent
    assert [q["payload"] for q in body["message"]["quick_replies"]] == [str(i) for i in range(13)]


async def test_an_empty_text_sends_nothing(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    assert await sender.send(TO, "", {"toast": "Oke", "clear_buttons": "m_1"}) == ""
    assert graph.calls == 0


async def test_a_429_waits_as_long_as_retry_after_says(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    graph.fail_next(429, messenger_api.RATE_LIMITED, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        await sender.send(TO, "Halo")
    assert caught.value.retry_after == 30


@pytest.mark.parametrize("body", [messenger_api.RATE_LIMITED, messenger_api.TOO_MANY_CALLS], ids=["613", "4"])
async def test_rate_limit_codes_wait_the_configured_time(sender: MessengerSender, graph: FakeGraphAPI,
                                                         body: dict[str, Any]) -> None:
    graph.fail_next(400, body)
    with pytest.raises(RateLimited) as caught:
        await sender.send(TO, "Halo")
    assert caught.value.retry_after == 45


async def test_outside_the_24_hour_window_is_permanent(sender: MessengerSender, graph: FakeGraphAPI) -> None:
    graph.close_window(PSID)
    with pytest.raises(PermanentError, match="outside the 24-hour window") as caught:
        await sender.send(TO, "Tiket Anda sudah selesai.")
    assert "2018278" in str(caught.value) and graph.sent == []


@pytest.mark.parametrize("status, body, error", [
    (500, messenger_api.TEMPORARY, TransientError),
    (503, "<html>Service Unavailable</html>", TransientError),
    (400, messenger_api.TEMPORARY, TransientError),  # code 2: "retry your request later"
    (400, messenger_api.UNAVAILABLE, PermanentError),
    (400, messenger_api.graph_error(100, "(#100) No matching user found", 2018001), PermanentError),
], ids=["500", "503-html", "code-2", "551", "no-user"])
async def test_errors_map_onto_the_outbox_errors(sender: MessengerSender, graph: FakeGraphAPI, status: int,
                                                 body: dict[str, Any] | str, error: type[Exception]) -> None:
    graph.fail_next(status, body)
    with pytest.raises(error):
        await sender.send(TO, "Halo")


async def test_a_refused_token_is_permanent_and_never_repeated(sender: MessengerSender, graph: FakeGraphAPI,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "EAAG-expired-token")
    with pytest.raises(PermanentError, match="code 190") as caught:
        await sender.send(TO, "Halo")
    assert "EAAG-expired-token" not in str(caught.value)


async def test_no_server_is_transient(config: dict[str, Any]) -> None:
    found = MessengerSender({**config, "graph_base_url": "http://127.0.0.1:9", "request_timeout": 2})
    try:
        with pytest.raises(TransientError) as caught:
            await found.send(TO, "Halo")
    finally:
        await found.close()
    assert messenger_api.PAGE_TOKEN not in str(caught.value)  # the token rides in the URL: never in an error


def test_without_a_token_the_channel_is_off_and_says_how_to_turn_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    for env in ("CROPHUB_MESSENGER_PAGE_TOKEN", "CROPHUB_MESSENGER_APP_SECRET", "CROPHUB_MESSENGER_VERIFY_TOKEN"):
        monkeypatch.delenv(env, raising=False)
    line = MessengerSettings().status()
    assert line is not None and line.startswith("messenger: channel off")
    assert "CROPHUB_MESSENGER_PAGE_TOKEN" in line and "/messenger/webhook" in line
    monkeypatch.setenv("CROPHUB_MESSENGER_PAGE_TOKEN", "x")
    monkeypatch.setenv("CROPHUB_MESSENGER_APP_SECRET", "y")
    still = MessengerSettings().status()
    assert still is not None and "CROPHUB_MESSENGER_VERIFY_TOKEN" in still and "PAGE_TOKEN" not in still
    with pytest.raises(PermanentError, match="no Page access token"):
        asyncio.run(MessengerSender({"page_token_env": "CROPHUB_TEST_NOT_SET"}).send(TO, "Halo"))


# --- the hub picks it up from the declaration ----------------------------------------------------------------------

@pytest.fixture
def with_messenger(monkeypatch: pytest.MonkeyPatch) -> type[hub_settings.CoreSettings]:
    """The hub's settings model with Messenger registered, as bots/__init__.py's PACKAGES line would."""
    monkeypatch.setattr(bots, "CHANNELS", (*bots.CHANNELS, messenger.CHANNEL))
    monkeypatch.setitem(bots.BY_NAME, "messenger", messenger.CHANNEL)
    monkeypatch.delenv("CROPHUB_TELEGRAM_TOKEN", raising=False)
    return hub_settings._with_channels()


def test_the_declaration_honours_the_contract() -> None:
    channel = messenger.CHANNEL
    assert channel.name == channel.key == "messenger" and issubclass(channel.settings, ChannelSettings)
    assert channel.sender and channel.webhook and load(channel.parse) is not None
    assert inspect.iscoroutinefunction(load(channel.sender).send)
    assert load(channel.webhook) is mount and channel.listener is None
    assert channel.offers("buttons") and not channel.offers("locations") and not channel.offers("edits")
    defaults = MessengerSettings()
    assert not defaults.listens() and defaults.serves()


def test_the_hub_reads_its_config_section(with_messenger: type[hub_settings.CoreSettings]) -> None:
    settings = with_messenger.model_validate({"messenger": {"api_version": "v24.0", "webhook_path": "/fb"}})
    section = settings.channel("messenger")
    assert isinstance(section, MessengerSettings) and section.api_version == "v24.0" and section.webhook_path == "/fb"
    default = with_messenger.model_validate({}).channel("messenger")
    assert isinstance(default, MessengerSettings) and default.graph_base_url == "https://graph.facebook.com"
    with pytest.raises(ValidationError, match="messenger.api_versoin"):
        with_messenger.model_validate({"messenger": {"api_versoin": "v24.0"}})
    with pytest.raises(ValidationError, match="messenger.page_token"):  # a secret is never a key
        with_messenger.model_validate({"messenger": {"page_token": "EAAG..."}})


def test_the_hub_serves_it_and_does_not_listen(with_messenger: type[hub_settings.CoreSettings],
                                              config: dict[str, Any]) -> None:
    settings = with_messenger.model_validate({"messenger": config})
    assert "messenger" not in cli.channels_on(settings)  # no listener: Meta pushes to the webhook
    app = web.Application()
    load(str(messenger.CHANNEL.webhook))(app, settings.channel("messenger"), None)
    assert {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource} >= {
        ("GET", "/messenger/webhook"), ("POST", "/messenger/webhook")}


def test_the_outbox_builds_its_sender_by_name(with_messenger: type[hub_settings.CoreSettings], config: dict[str, Any],
                                              graph: FakeGraphAPI) -> None:
    settings = with_messenger.model_validate({"messenger": config})
    registry.configure({"messenger": settings.channel("messenger").sender_config()})
    try:
        sender = registry.new("messenger")

        async def send_and_close() -> str:
            try:
                return await sender.send(TO, "Laporan diterima.")
            finally:
                await sender.close()  # type: ignore[attr-defined]

        sent = asyncio.run(send_and_close())
    finally:
        registry.configure({})
    assert sent == graph.sent[-1]["message_id"] and graph.sent[-1]["message"]["text"] == "Laporan diterima."
