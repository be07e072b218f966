"""Poison isolation on SQLite and PostgreSQL: an update the database cannot store is kept as rejected and the
poller moves on; a message that breaks the pipeline fails alone; one that fails every time is dead-lettered and
the sweep stops handing it out; a lone surrogate from the web chat is cleaned and answered."""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, SimpleWorker
from rq.timeouts import JobTimeoutException
from sqlalchemy import select

from bots.telegram.poll import Poller
from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from ingest.message import Address, Message, Sender
from router import context
from router.context import RouterConfig
from router.pipeline import process_inbound
from router.recover import sweep
from store import db, ops
from store.models import Cursor, InboundMessage, Ticket
from tests.conftest import fixture
from tests.fakes.telegram_api import FakeBotAPI

pytestmark = pytest.mark.usefixtures("hub")


def work(conn: redis.Redis) -> None:
    """Run an RQ worker until both queues are empty."""
    SimpleWorker([Queue(OUTBOX_QUEUE, connection=conn), Queue(INTAKE_QUEUE, connection=conn)],
                 connection=conn).work(burst=True, logging_level="CRITICAL")


def update(name: str, update_id: int, **message: Any) -> dict[str, Any]:
    data = copy.deepcopy(fixture("telegram", name))
    data["update_id"] = update_id
    data["message"].update(message)
    return data


def rows() -> dict[str, InboundMessage]:
    with db.session() as s:
        return {r.key: r for r in s.scalars(select(InboundMessage))}


async def test_a_poison_update_is_rejected_and_the_next_five_reports_are_answered(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    infinite = update("location", 800000001, message_id=301)
    infinite["message"]["location"]["latitude"] = float("inf")  # "latitude": 1e400 on the wire
    inaccurate = update("location", 800000002, message_id=302)
    inaccurate["message"]["location"]["horizontal_accuracy"] = float("nan")
    for u in (infinite, inaccurate):
        fake_api.push(u)
    for i in range(5):
        fake_api.push(update("text_message", 800000010 + i, message_id=310 + i))
    poller = Poller(telegram_config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    await poller.start()
    assert await poller.poll_once() == 7
    await poller.bot.shutdown()
    work(redis_conn)
    bot = fake_api.token.split(":")[0]
    stored = rows()
    for key in (f"{bot}:800000001", f"{bot}:800000002"):
        assert stored[key].status == "rejected" and stored[key].reason
        # What came is kept as text, non-finite numbers and all.
        assert stored[key].raw_text and ("Infinity" in stored[key].raw_text or "NaN" in stored[key].raw_text)
    assert "Location lat" in (stored[f"{bot}:800000001"].reason or "")
    assert "location.accuracy_m" in (stored[f"{bot}:800000002"].reason or "")
    assert sorted(m["reply_to"] for m in fake_api.sent) == [310, 311, 312, 313, 314]
    with db.session() as s:
        assert s.get(Cursor, f"telegram:{bot}:offset").value == "800000015"


async def test_nul_and_a_lone_surrogate_in_a_telegram_text_are_cleaned_and_answered(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    fake_api.push(update("text_message", 800000101, message_id=401,
                         text="banjir \ud800 setinggi lutut\x00 di Jl. Dermaga Raya, Kel. Klender"))
    fake_api.push(update("text_message", 800000102, message_id=402))
    poller = Poller(telegram_config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    await poller.start()
    await poller.poll_once()
    await poller.bot.shutdown()
    work(redis_conn)
    assert sorted(m["reply_to"] for m in fake_api.sent) == [401, 402]
    with db.session() as s:
        texts = sorted(t.text for t in s.scalars(select(Ticket)))
    assert "banjir \ufffd setinggi lutut di Jl. Dermaga Raya, Kel. Klender" in texts


def _stored(conn: redis.Redis, texts: list[str], age: timedelta = timedelta(0)) -> list[int]:
    """Messages stored as an older crophub stored them (no cleaning at intake), never enqueued."""
    when = datetime.now(timezone.utc) - age
    with db.session() as s:
        return ops.save_inbound(s, [
            {"channel": "telegram", "key": f"old:{i}", "status": "received", "raw": {}, "received_at": when,
             "message": Message(channel="telegram", key=f"old:{i}", sender=Sender(id=f"77{i}"),
                                address=Address(channel="telegram", chat_id=f"77{i}"), text=text,
                                received_at=when).model_dump(mode="json", exclude={"raw"})}
            for i, text in enumerate(texts)
        ])


GOOD = "banjir setinggi lutut di Jl. Dermaga Raya, Kel. Klender, Duren Sawit"


def test_a_message_that_breaks_the_classifier_fails_alone(redis_conn: redis.Redis) -> None:
    ids = _stored(redis_conn, [GOOD, "banjir \ud800", GOOD + " lagi", "jalan berlubang di Jl. Raya Bogor"])
    result = process_inbound(ids)
    assert result["handled"] == 3 and result["failed"] == 1
    stored = rows()
    assert stored["old:1"].status == "failed" and "UnicodeEncodeError" in (stored["old:1"].reason or "")
    assert {stored[f"old:{i}"].status for i in (0, 2, 3)} == {"processed"}
    with db.session() as s:
        assert len(s.scalars(select(Ticket)).all()) == 3


def test_the_sweep_does_not_let_a_poison_message_hold_up_the_others(redis_conn: redis.Redis) -> None:
    _stored(redis_conn, [GOOD, "banjir \ud800", "jalan berlubang di Jl. Raya Bogor"], age=timedelta(minutes=5))
    assert sweep(older_than_seconds=60)["inbound"] == 3  # one job, as after a Redis outage
    work(redis_conn)
    stored = rows()
    assert [stored[f"old:{i}"].status for i in range(3)] == ["processed", "failed", "processed"]
    assert sweep(older_than_seconds=60)["inbound"] == 0


class _Hangs:
    """A classifier that runs out the job's time on one text (the job is stopped: nothing to blame in-process)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def predict(self, texts: list[str]) -> Any:
        if any("racun" in t for t in texts):
            raise JobTimeoutException("Task exceeded maximum timeout value (120 seconds)")
        return self.real.predict(texts)


def test_a_message_that_fails_every_time_is_dead_lettered_after_n_tries(redis_conn: redis.Redis) -> None:
    context.configure(RouterConfig(retry_intervals=[1, 2], max_attempts=3), redis_conn)
    context._classifier = _Hangs(context.classifier())
    _stored(redis_conn, [GOOD, "racun di kali ciliwung"], age=timedelta(minutes=5))
    handed_out = []
    for _ in range(6):
        handed_out.append(sweep(older_than_seconds=60)["inbound"])
        work(redis_conn)
    stored = rows()
    assert stored["old:0"].status == "processed"  # held up by one job at most, then on its own
    assert stored["old:1"].status == "failed" and stored["old:1"].attempts == 3
    assert "3" in (stored["old:1"].reason or "") and "JobTimeoutException" in (stored["old:1"].reason or "")
    assert handed_out[-1] == 0 and handed_out[:2] == [2, 2]
    assert sweep(older_than_seconds=0)["inbound"] == 0


# --- the web chat ---------------------------------------------------------------------------------------------

@pytest.fixture
async def chat_client(redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    from web import chat
    from web.app import make_app
    from web.media import Photos

    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/chat")).status == 200
        yield client


async def test_a_lone_surrogate_from_the_web_chat_is_cleaned_and_the_others_flow(
    chat_client: TestClient, redis_conn: redis.Redis
) -> None:
    texts = ["banjir 50 cm di jl jatinegara barat \ud800", "sampah menumpuk di jl jatinegara barat\x00",
             "jalan berlubang besar di jl jatinegara barat"]
    for i, text in enumerate(texts):
        response = await chat_client.post("/chat/messages", json={"id": f"m-poison-0{i}", "text": text,
                                                                  "location": {"lat": -6.2245, "lon": 106.8660}})
        assert response.status == 202, await response.text()
    work(redis_conn)
    body = await (await chat_client.get("/chat/messages")).json()
    assert len([m for m in body["messages"] if m["from"] == "hub"]) == 3
    assert {r.status for r in rows().values()} == {"processed"}
    with db.session() as s:
        assert "banjir 50 cm di jl jatinegara barat \ufffd" in {t.text for t in s.scalars(select(Ticket))}


def test_the_failure_limit_is_one_setting_with_one_default() -> None:
    from hub.runtime import router_config
    from hub.settings import parse

    assert parse({}).workers.max_attempts == RouterConfig().max_attempts == 5
    assert router_config(parse({"workers": {"max_attempts": 2}})).max_attempts == 2
