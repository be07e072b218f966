"""The "where?" dialogue over Twitter, whole conversations: mentions polled by the real tweepy client from the
fake API v2, the router's jobs on real Redis + RQ (SQLite and PostgreSQL), replies posted as threaded tweets.

A report without a place is filed waiting for it (needs_info) and the reply asks where; the citizen's next
mention, a new tweet and not a reply to ours, is read as the answer before anything else. An address
completes the ticket; words that name no place are asked about once more, with an example, and then the
ticket goes on without its place ("lokasi belum jelas")."""
from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from bots.twitter.poll import MentionPoller
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from store import db
from store.models import Outbox, Question, Ticket, TicketEvent
from tests.bots.test_twitter_conversation import ACCOUNT, SITI, USERNAME
from tests.bots.test_twitter_conversation import config  # noqa: F401  (the fixture: a worker that sends on Twitter)
from tests.fakes.twitter_api import FakeTwitterAPI

REPORT = "Banjir setinggi lutut depan rumah, tolong"
ADDRESS = "Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"
PONDOK_BAMBU = "31.75.07.1002"
AREA_CODE = re.compile(r"\b31\.\d\d")
PART = re.compile(r"\s*\(\d+/\d+\)$")  # the marker of a part of a longer reply posted as a thread


@pytest.fixture
def poller(config: dict[str, Any], redis_conn: redis.Redis) -> MentionPoller:  # noqa: F811 (the fixture)
    return MentionPoller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))


async def tweet(api: FakeTwitterAPI, poller: MentionPoller, conn: redis.Redis, text: str) -> tuple[str, str]:
    """Siti mentions the account in a new tweet (not a reply to anything); the hub polls it and works every
    queue until empty. → (the tweet's id, what the hub answered: its parts joined, markers left out)."""
    before = len(api.posted)
    tweet_id = api.mention(ACCOUNT, SITI, f"@{USERNAME} {text}")
    await poller.poll_once()
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")
    posted = api.posted[before:]
    assert posted, f"no answer to {text!r}"
    assert posted[0]["in_reply_to_tweet_id"] == tweet_id  # answered under the citizen's tweet
    for earlier, later in zip(posted, posted[1:]):  # a longer answer is a thread, part under part
        assert later["in_reply_to_tweet_id"] == earlier["id"]
    return tweet_id, " ".join(PART.sub("", p["text"]) for p in posted)


def the_ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket)).one()


def no_area_codes(api: FakeTwitterAPI) -> None:
    for posted in api.posted:
        assert not AREA_CODE.search(posted["text"]), f"an area code in a reply: {posted['text']!r}"


async def filed_waiting_for_its_place(api: FakeTwitterAPI, poller: MentionPoller, conn: redis.Redis) -> Ticket:
    _, ack = await tweet(api, poller, conn, REPORT)
    ticket = the_ticket()
    assert ticket.status == "needs_info" and ticket.channel == "twitter"
    assert ticket.kelurahan_kode is None and ticket.kecamatan_kode is None
    assert ticket.public_id in ack and "alamat" in ack  # it asks where (Twitter cannot share a location)
    with db.session() as s:
        [asked] = s.scalars(select(Question)).all()
        assert (asked.kind, asked.status, asked.ticket_id) == ("place", "open", ticket.id)
    return ticket


async def test_a_new_tweet_naming_the_address_completes_the_ticket_waiting_for_it(
        api: FakeTwitterAPI, poller: MentionPoller, redis_conn: redis.Redis) -> None:
    ticket = await filed_waiting_for_its_place(api, poller, redis_conn)

    # Not a reply to our tweet: a new mention that only names the place.
    _, said = await tweet(api, poller, redis_conn, ADDRESS)
    placed = the_ticket()  # still the one ticket: the address is no report of its own
    assert placed.id == ticket.id
    assert placed.kelurahan_kode == PONDOK_BAMBU and placed.kecamatan_kode == "31.75.07"
    assert placed.status != "needs_info"
    assert f"Lokasi tiket {ticket.public_id}:" in said
    assert "Kel. Pondok Bambu, Kec. Duren Sawit, Jakarta Timur" in said
    no_area_codes(api)
    with db.session() as s:
        assert [q.status for q in s.scalars(select(Question))] == ["answered"]
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
        assert "place_set" in kinds
        assert {o.status for o in s.scalars(select(Outbox))} == {"sent"}


async def test_a_place_asked_for_twice_in_vain_lets_the_ticket_go_on_without_it(
        api: FakeTwitterAPI, poller: MentionPoller, redis_conn: redis.Redis) -> None:
    ticket = await filed_waiting_for_its_place(api, poller, redis_conn)

    _, again = await tweet(api, poller, redis_conn, "dekat rumah saya pokoknya")
    assert "contoh" in again and ticket.public_id in again  # asked once more, with an example
    assert the_ticket().status == "needs_info"

    _, dropped = await tweet(api, poller, redis_conn, "tidak tahu")
    assert "lokasi belum jelas" in dropped and ticket.public_id in dropped
    after = the_ticket()
    assert after.id == ticket.id and after.status == "open"  # on to officers, without its place
    assert after.kelurahan_kode is None
    no_area_codes(api)
    with db.session() as s:
        [question] = s.scalars(select(Question)).all()
        assert (question.status, question.asked) == ("dropped", 2)
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
        assert "question_dropped" in kinds
