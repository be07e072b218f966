"""Webhook mode: the aiohttp endpoint checks Telegram's secret token, stores, then answers 200."""
from __future__ import annotations


import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

from bots.telegram import webhook
from bots.telegram.config import TelegramSettings
from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import InboundMessage
from tests.conftest import fixture
from tests.fakes.telegram_api import FakeBotAPI

SECRET = "s3cret-token_for-tests"


@pytest.fixture
async def client(sqlite_url: str, redis_conn: redis.Redis, fake_api: FakeBotAPI):  # type: ignore[no-untyped-def]
    app = web.Application()
    webhook.route(app, fake_api.token, SECRET, Intake(db.configure(sqlite_url), Queue(INTAKE_QUEUE, connection=redis_conn)),
                  "/telegram/webhook")
    async with TestClient(TestServer(app)) as c:
        yield c


def stored() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage)))


async def test_wrong_secret_is_refused(client: TestClient) -> None:
    resp = await client.post("/telegram/webhook", json=fixture("telegram", "text_message"),
                             headers={webhook.SECRET_HEADER: "wrong"})
    assert resp.status == 403
    assert stored() == []


async def test_missing_secret_is_refused(client: TestClient) -> None:
    resp = await client.post("/telegram/webhook", json=fixture("telegram", "text_message"))
    assert resp.status == 403
    assert stored() == []


async def test_right_secret_stores_and_enqueues_once(client: TestClient, redis_conn: redis.Redis) -> None:
    for _ in range(2):  # Telegram redelivers when it did not see our 200
        resp = await client.post("/telegram/webhook", json=fixture("telegram", "text_message"),
                                 headers={webhook.SECRET_HEADER: SECRET})
        assert resp.status == 200
    [row] = stored()
    assert row.status == "received" and row.key == "123456789:700000101"
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1


async def test_malformed_update_is_stored_rejected_and_answered(client: TestClient) -> None:
    resp = await client.post("/telegram/webhook", json=fixture("telegram", "malformed_chat"),
                             headers={webhook.SECRET_HEADER: SECRET})
    assert resp.status == 200  # a non-2xx would only make Telegram send it again
    [row] = stored()
    assert row.status == "rejected" and row.reason


async def test_body_that_is_not_json_is_a_400(client: TestClient) -> None:
    resp = await client.post("/telegram/webhook", data=b"{not json", headers={webhook.SECRET_HEADER: SECRET})
    assert resp.status == 400
    assert stored() == []


async def test_register_sets_the_webhook_with_the_secret(fake_api: FakeBotAPI, telegram_config: dict) -> None:
    settings = TelegramSettings.model_validate(telegram_config)
    await webhook.register(settings, fake_api.token, "https://crop.example.go.id/telegram/webhook", SECRET)
    assert fake_api.webhook == {"url": "https://crop.example.go.id/telegram/webhook", "secret_token": SECRET}
