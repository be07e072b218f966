"""Officers on any channel that carries officers: an officer known only on the pager channel (tests/fakes/pager.py,
declared like any channel) gets the card there and works the ticket from there; the citizen, on Telegram, hears
of it as usual."""
from __future__ import annotations

import asyncio

import pytest
import redis
from rq import Queue

import bots
from bots import registry
from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store import officers as roster
from tests.fakes import pager
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import CITIZEN, OFFICER, POINT, body, deliver, message, sent_to, ticket
from tests.router.test_crop_conversations import crop  # noqa: F401  (the fixture: routing and the roster)

pytestmark = pytest.mark.usefixtures("hub")

PAGER = "0812555001"


@pytest.fixture(autouse=True)
def pager_channel(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """The pager channel registered and configured; the CROP tests' Telegram officer away, one on the pager."""
    request.getfixturevalue("crop")
    monkeypatch.setattr(bots, "CHANNELS", (*bots.CHANNELS, pager.CHANNEL))
    monkeypatch.setitem(bots.BY_NAME, "pager", pager.CHANNEL)
    monkeypatch.setitem(registry._configs, "pager", {"gateway": "http://127.0.0.1:9"})
    pager.SENT.clear()
    with db.session() as s:
        assert roster.remove(s, "telegram", str(OFFICER["id"]))  # the Telegram officer of the CROP tests is away
        roster.add(s, {"name": "Rudi (PPSU)", "identities": {"pager": PAGER}, "role": "petugas", "areas": ["31.75.07"],
                       "agencies": ["dsda"]})


def page(conn: redis.Redis, line: str) -> None:
    """The officer's pager message, stored by the channel's own listener."""
    listener = pager.PagerListener(pager.PagerSettings(gateway="http://127.0.0.1:9"),
                                   Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)), [line])
    asyncio.run(listener.run(asyncio.Event()))


async def test_an_officer_on_another_channel_gets_the_card_and_works_the_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Banjir setinggi lutut depan rumah saya, tolong pak", location=POINT))
    t = ticket()
    assert t.status == "assigned"
    [(to, card)] = pager.SENT
    assert (to.channel, to.chat_id) == ("pager", PAGER) and t.public_id in card and "Banjir setinggi lutut" in card

    await asyncio.to_thread(page, redis_conn, f"{PAGER}: /ambil {t.public_id}")
    await deliver(fake_api, telegram_config, redis_conn)
    assert ticket().status == "taken" and ticket().assigned_officer_id is not None
    assert "sedang ditangani oleh petugas" in body(sent_to(fake_api, CITIZEN)[-1])
    assert t.public_id in pager.SENT[-1][1]  # the officer's answer, on the pager

    # Someone else on the pager is nobody's officer: a citizen writing there, not an officer acting.
    await asyncio.to_thread(page, redis_conn, f"0899000111: /proses {t.public_id}")
    await deliver(fake_api, telegram_config, redis_conn)
    assert ticket().status == "taken"
