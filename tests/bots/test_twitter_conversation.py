"""A citizen's conversation over Twitter, end to end: mentions polled by the real tweepy client from the fake
API v2, the router's jobs on real Redis + RQ (SQLite and PostgreSQL), replies posted as threaded tweets."""
from __future__ import annotations

from typing import Any, Iterator

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from bots import registry
from bots.twitter.poll import MentionPoller
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store.models import Outbox, Ticket, TicketEvent
from tests.fakes.twitter_api import FakeTwitterAPI, credentials

ACCOUNT, USERNAME = "1481234567", "CropHubJKT"
SITI = {"id": "1122334455", "name": "Siti Rahma", "username": "sitirahma_jkt"}
POINT = {"type": "Point", "coordinates": [106.900447, -6.225014]}  # Pondok Bambu, Duren Sawit (31.75.07.1002)


@pytest.fixture
def config(api: FakeTwitterAPI, db_url: str, redis_conn: redis.Redis,
           monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """This process wired as a worker that sends on Twitter; yields the twitter config section."""
    section = {"account_id": ACCOUNT, "account_username": USERNAME, "api_base_url": api.base_url,
               **credentials(monkeypatch), "mode": "polling", "max_pages": 5, "max_rate_limit_wait": 5.0,
               "timeout": 5.0}
    db.configure(db_url)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"twitter": section})
    yield section
    registry.configure({})


async def deliver(poller: MentionPoller, conn: redis.Redis) -> None:
    """Poll the mentions once and work every queue until empty."""
    await poller.poll_once()
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def test_report_reply_and_a_comment_by_replying_to_our_tweet(api: FakeTwitterAPI, config: dict[str, Any],
                                                                    redis_conn: redis.Redis) -> None:
    poller = MentionPoller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    report = api.mention(ACCOUNT, SITI, f"@{USERNAME} @DKIJakarta banjir setinggi lutut di depan rumah, motor mogok",
                         geo={"coordinates": POINT})
    await deliver(poller, redis_conn)

    with db.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        public_id, ticket_id = ticket.public_id, ticket.id
        assert ticket.category == "flood" and ticket.kelurahan_kode == "31.75.07.1002"
        assert ticket.text.startswith("banjir setinggi lutut")  # the handles are not part of the report
    assert api.posted, "the citizen got no answer"
    first = api.posted[0]
    assert first["in_reply_to_tweet_id"] == report and public_id in " ".join(p["text"] for p in api.posted)
    for earlier, later in zip(api.posted, api.posted[1:]):  # a longer answer is a thread, part under part
        assert later["in_reply_to_tweet_id"] == earlier["id"]
    assert all(len(p["text"]) <= 280 for p in api.posted)
    with db.session() as s:
        sent = s.scalars(select(Outbox).where(Outbox.ticket_id == ticket_id)).all()
        assert [o.status for o in sent] == ["sent"] and sent[0].provider_message_id == api.posted[-1]["id"]
    our_tweet = api.posted[-1]["id"]
    answered = len(api.posted)

    # The citizen answers under our tweet (Twitter puts our handle first): a comment on their ticket.
    comment = api.mention(ACCOUNT, SITI, f"@{USERNAME} airnya makin tinggi pak, sudah masuk rumah",
                          referenced_tweets=[{"type": "replied_to", "id": our_tweet}], in_reply_to_user_id=ACCOUNT)
    await deliver(poller, redis_conn)
    with db.session() as s:
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id))]
        assert "citizen_comment" in kinds and len(s.scalars(select(Ticket)).all()) == 1
    [reply] = api.posted[answered:]
    assert reply["in_reply_to_tweet_id"] == comment and public_id in reply["text"]

    # The command the replies mention works in a tweet too.
    status = api.mention(ACCOUNT, SITI, f"@{USERNAME} /status {public_id}")
    await deliver(poller, redis_conn)
    [answer] = api.posted[answered + 1:]
    assert answer["in_reply_to_tweet_id"] == status and public_id in answer["text"]
    with db.session() as s:
        assert len(s.scalars(select(Ticket)).all()) == 1  # a command, not a new report
