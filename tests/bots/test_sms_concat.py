"""A long SMS that Vonage delivers in parts (concat-ref / concat-total / concat-part), posted to the real webhook
(SQLite and PostgreSQL): each part stored before the 200, one message when the last part is in, whatever the order,
however often a part is redelivered, even when the last two parts arrive at once; parts whose sibling never comes
delivered by the sender's next SMS; and a long report in two parts filed as one ticket through the router.

Payload shape: tests/fixtures/sms/vonage_concat_part.json (the parts: tests/fakes/sms_gateway.py's vonage_parts)."""
from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, SimpleWorker
from sqlalchemy import select, update

from bots import registry
from bots.sms import concat, webhook
from bots.sms.config import PRESET_FIELDS, SmsSettings
from bots.sms.parse import parse
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from ingest.message import Message
from router import context
from router.context import RouterConfig
from store import db
from store.models import InboundMessage, Ticket, utcnow
from tests.conftest import fixture
from tests.fakes.sms_gateway import (API_KEY, API_SECRET, PASSWORD_ENV, SECRET, SECRET_ENV, USER_ENV, FakeSmsGateway,
                                     section, vonage_parts)

HEADER = {"X-Crophub-Sms-Secret": SECRET}
REPORT = ("Genangan air setinggi lutut sejak subuh, anak-anak tidak bisa berangkat sekolah dan warga lansia kesulitan "
          "keluar rumah karena air masuk ke gang. Mohon segera disedot, lokasinya di Jl. Jatinegara Barat RT 03/RW 05 "
          "Kampung Melayu, Jatinegara, dekat masjid.")


@pytest.fixture(autouse=True)
def vonage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(USER_ENV, API_KEY)
    monkeypatch.setenv(PASSWORD_ENV, API_SECRET)


@pytest.fixture
async def hook(db_url: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    app = web.Application()
    webhook.mount(app, SmsSettings.model_validate(section("vonage")), Intake(db.configure(db_url),
                                                                             Queue(INTAKE_QUEUE, connection=redis_conn)))
    async with TestClient(TestServer(app)) as client:
        yield client


async def post(hook: TestClient, payload: dict[str, str]) -> None:
    assert (await hook.post("/sms/inbound", json=payload, headers=HEADER)).status == 200


def stored() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def messages() -> list[InboundMessage]:
    return [r for r in stored() if r.status == "received"]


def test_a_part_is_read_as_one() -> None:
    msg = parse(fixture("sms", "vonage_concat_part"), PRESET_FIELDS["vonage"])
    assert isinstance(msg, Message) and concat.part_of(msg) == concat.Part("17", 2, 1)
    whole = parse(fixture("sms", "vonage_text"), PRESET_FIELDS["vonage"])
    assert isinstance(whole, Message) and concat.part_of(whole) is None
    odd = msg.model_copy(update={"raw": {**msg.raw, "concat-part": "3"}})  # part 3 of 2: not held back
    assert concat.part_of(odd) is None


@pytest.mark.parametrize("order", [[0, 1, 2], [2, 0, 1]], ids=["in order", "out of order"])
async def test_the_parts_are_stored_as_they_come_and_joined_into_one_message(
        hook: TestClient, redis_conn: redis.Redis, order: list[int]) -> None:
    parts = vonage_parts(REPORT, "17", size=100)
    assert len(parts) == 3
    for n in order[:2]:
        await post(hook, parts[n])
    # Both parts are kept before the 200, none is a message yet: nothing for the router.
    assert [r.status for r in stored()] == ["ignored", "ignored"] and messages() == []
    assert all("waiting for the rest of a long SMS" in (r.reason or "") for r in stored())
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 0
    await post(hook, parts[order[2]])
    [message] = messages()
    assert message.message is not None and message.message["text"] == REPORT  # in part order, words unbroken
    assert message.key == f"sms:concat:17-3:{parts[0]['messageId']}"
    assert message.message["address"]["chat_id"] == "6281311223344" and "6281311223344" not in message.key
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1
    assert sorted(r.reason or "" for r in stored() if r.status == "ignored") == [
        f"part {n} of 3: joined into {message.key}" for n in (1, 2, 3)]
    for part in parts:  # Vonage redelivers a part it thinks we did not get: nothing new
        await post(hook, part)
    assert len(stored()) == 4 and len(messages()) == 1


async def test_two_last_parts_at_once_make_one_message(hook: TestClient, redis_conn: redis.Redis,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parts = vonage_parts(REPORT, "42", size=100)
    await post(hook, parts[0])
    # Each request waits (up to a second) for the other to have stored its part before it looks for the rest: without
    # one sender's requests taken one at a time, each would see two parts of three, and no message would be made.
    barrier, real = threading.Barrier(2, timeout=1), concat._waiting_rows

    def racing(*args: Any) -> Any:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return real(*args)

    monkeypatch.setattr(concat, "_waiting_rows", racing)
    await asyncio.gather(post(hook, parts[1]), post(hook, parts[2]))
    [message] = messages()
    assert message.message is not None and message.message["text"] == REPORT


async def test_parts_whose_sibling_never_comes_are_delivered_by_the_senders_next_sms(hook: TestClient) -> None:
    first, second = vonage_parts(REPORT, "9")
    await post(hook, first)
    await post(hook, {**fixture("sms", "vonage_text"), "msisdn": "6281399990000"})  # someone else: no effect
    assert [r.status for r in stored()] == ["ignored", "received"]
    with db.session() as s:  # the part has waited longer than sms.inbound.concat_wait (300 s)
        s.execute(update(InboundMessage).where(InboundMessage.status == "ignored")
                  .values(received_at=utcnow() - timedelta(seconds=301)))
    await post(hook, {**fixture("sms", "vonage_text"), "msisdn": first["msisdn"], "messageId": "0A00000012AB9999"})
    _, partial, again = stored()[1:]
    assert partial.message is not None and again.message is not None
    assert partial.message["text"] == first["text"].strip() + " …"  # delivered first, the gap marked
    assert again.message["text"].startswith("Sampah menumpuk") and partial.id < again.id
    assert f"joined into {partial.key}" in (stored()[0].reason or "")
    # The lost part turns up after all: kept, waiting (its siblings were delivered), delivered in turn later.
    await post(hook, second)
    assert stored()[-1].status == "ignored" and "waiting for the rest" in (stored()[-1].reason or "")
    assert len(messages()) == 3


# --- through the router --------------------------------------------------------------------------------------------


def work(conn: redis.Redis) -> None:
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def test_a_long_report_in_two_parts_files_one_ticket(hook: TestClient, redis_conn: redis.Redis,
                                                           gateway_server: FakeSmsGateway) -> None:
    gateway_server.reset()
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"sms": SmsSettings.model_validate(section("vonage", gateway_server)).sender_config()})
    try:
        for part in reversed(vonage_parts(REPORT, "77")):  # the place is in the second part, which comes first
            await post(hook, part)
            work(redis_conn)
    finally:
        registry.configure({})
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()
        # One report with its place: not a report without one whose second half is taken for the answer.
        assert ticket.text == REPORT and ticket.kelurahan_kode is not None and ticket.status != "needs_info"
        assert ticket.public_id is not None and any(ticket.public_id in str(m["text"]) for m in gateway_server.sent)
