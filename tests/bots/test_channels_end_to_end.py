"""Issue 5's "done when": with Twitter and email configured against local servers (the fake API v2 driven
by the real tweepy, Dovecot and aiosmtpd), a tweet and an email each become a ticket, get their
acknowledgement in their thread, and later receive the officer's resolution, which the officer gives by
replying to the card in Telegram (the fake Bot API, the real python-telegram-bot)."""
from __future__ import annotations

import itertools
from typing import Any, Iterator

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from bots import registry
from bots.email.inbox import InboxReader
from bots.telegram.parse import bot_id_of
from bots.telegram.poll import Poller
from bots.twitter.poll import MentionPoller
from hub.settings import RoutingSettings
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store import officers as roster
from store.models import Ticket
from tests.fakes.mail import Mailbox, SmtpServer
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.twitter_api import FakeTwitterAPI, credentials

ACCOUNT, USERNAME = "1481234567", "CropHubJKT"
ADDRESS = "pengaduan@jakarta.go.id"
SITI = {"id": "1122334455", "name": "Siti Rahma", "username": "sitirahma_jkt"}
OFFICER = {"id": 88120001, "is_bot": False, "first_name": "Budi", "language_code": "id"}
_ids = itertools.count(700_000_000)


@pytest.fixture
def channels(db_url: str, redis_conn: redis.Redis, api: FakeTwitterAPI, mailbox: Mailbox,
             smtp_server: SmtpServer, fake_api: FakeBotAPI, telegram_config: dict[str, Any],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """This process wired as a worker with all three channels, and an officer covering Duren Sawit."""
    twitter = {"account_id": ACCOUNT, "account_username": USERNAME, "api_base_url": api.base_url,
               **credentials(monkeypatch), "mode": "polling", "max_pages": 5, "max_rate_limit_wait": 5.0,
               "timeout": 5.0}
    email = {**mailbox.config(ADDRESS), "smtp": smtp_server.config(ADDRESS)["smtp"]}
    db.configure(db_url)
    routing = RoutingSettings().model_dump(mode="json", exclude={"officers"})
    # As `crophub run` does: cards come from the configured bot, whatever channel the report came by.
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing,
                                   telegram_bot=bot_id_of(fake_api.token)), redis_conn)
    registry.configure({"telegram": telegram_config, "twitter": twitter, "email": email})
    with db.session() as s:
        roster.add(s, {"name": "Budi (PPSU)", "telegram_id": str(OFFICER["id"]), "role": "petugas",
                       "areas": ["31.75.07"], "agencies": ["dsda", "dlh"]})
    yield {"twitter": twitter, "email": email, "telegram": telegram_config}
    registry.configure({})


def work(conn: redis.Redis) -> None:
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def read_inbox(config: dict[str, Any], conn: redis.Redis) -> None:
    reader = InboxReader(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await reader.connect()
    try:
        await reader.fetch_new()
    finally:
        await reader.close()
    work(conn)


async def officer_says(api: FakeBotAPI, config: dict[str, Any], conn: redis.Redis, card: dict[str, Any],
                       **content: Any) -> None:
    """The officer replies to a card in Telegram."""
    api.push({"update_id": next(_ids), "message": {
        "message_id": next(_ids) % 100_000, "from": OFFICER, "date": 1764036000, **content,
        "chat": {"id": OFFICER["id"], "type": "private", "first_name": "Budi"},
        "reply_to_message": {"message_id": card["message"]["message_id"], "date": 1764036000,
                             "chat": {"id": OFFICER["id"], "type": "private"}, "text": "..."}}})
    poller = Poller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await poller.start()
    await poller.poll_once()
    await poller.bot.shutdown()
    work(conn)


def card_for(api: FakeBotAPI, public_id: str) -> dict[str, Any]:
    [card] = [m for m in api.sent if str(m["chat_id"]) == str(OFFICER["id"]) and public_id in (m.get("text") or "")]
    return card


def ticket_of(channel: str) -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket).where(Ticket.channel == channel)).one()


CITIZEN_MAIL = b"""From: Rudi Hartono <rudi.hartono@example.co.id>
To: pengaduan@jakarta.go.id
Subject: Sampah menumpuk di Pondok Bambu
Message-ID: <rudi-20261124-1@example.co.id>
Date: Tue, 24 Nov 2026 08:15:00 +0700
Content-Type: text/plain; charset=utf-8

Selamat pagi,
sampah rumah tangga sudah seminggu tidak diangkut di jl. pahlawan revolusi, kel. pondok bambu.
Baunya menyengat dan mulai dikerumuni lalat. Mohon segera diangkut.

Rudi
"""


async def test_a_tweet_and_an_email_become_tickets_answered_in_their_threads_and_hear_of_the_resolution(
    channels: dict[str, Any], api: FakeTwitterAPI, mailbox: Mailbox, smtp_server: SmtpServer,
    fake_api: FakeBotAPI, redis_conn: redis.Redis,
) -> None:
    tweet = api.mention(ACCOUNT, SITI, f"@{USERNAME} banjir setinggi lutut di jl. pahlawan revolusi kel. pondok bambu, "
                                       "motor pada mogok")
    poller = MentionPoller(channels["twitter"], Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    await poller.poll_once()
    work(redis_conn)
    mailbox.append(CITIZEN_MAIL)
    await read_inbox(channels["email"], redis_conn)

    # Each became a ticket in Pondok Bambu, sent to the officer as a card.
    flood, garbage = ticket_of("twitter"), ticket_of("email")
    assert (flood.category, flood.kelurahan_kode, flood.status) == ("flood", "31.75.07.1002", "assigned")
    assert (garbage.category, garbage.kelurahan_kode, garbage.status) == ("garbage", "31.75.07.1002", "assigned")
    # The acknowledgements, in their threads: a tweet under the citizen's, a mail under theirs.
    [ack_mail] = smtp_server.received  # filed and sent to the officers: one answer to one mail
    assert ack_mail.rcpt_tos == ["rudi.hartono@example.co.id"]
    ack_body = ack_mail.message.get_body(("plain",)).get_content()
    assert garbage.public_id in ack_body and "diteruskan ke petugas" in ack_body
    assert ack_mail.message["In-Reply-To"] == "<rudi-20261124-1@example.co.id>"
    assert ack_mail.message["Subject"] == "Re: Sampah menumpuk di Pondok Bambu"

    # Later the officer closes both from Telegram, each with a photo, by replying to its card.
    for ticket in (flood, garbage):
        photo = [{"file_id": f"after-{ticket.id}", "file_unique_id": f"a{ticket.id}", "width": 10, "height": 10}]
        await officer_says(fake_api, channels["telegram"], redis_conn, card_for(fake_api, ticket.public_id),
                           photo=photo, caption="selesai, sudah ditangani")
    assert ticket_of("twitter").status == "resolved" and ticket_of("email").status == "resolved"

    # The citizens hear of it where they wrote, in the same threads.
    resolved_tweets = [p for p in api.posted if "sudah ditangani" in p["text"] and flood.public_id in p["text"]]
    assert resolved_tweets and resolved_tweets[0]["in_reply_to_tweet_id"] == tweet
    resolved_mail = smtp_server.received[-1].message
    body = resolved_mail.get_body(("plain",)).get_content()
    assert garbage.public_id in body and "sudah ditangani" in body
    assert resolved_mail["In-Reply-To"] == "<rudi-20261124-1@example.co.id>"

    # And each can answer that it is fixed, by replying where they are: the tickets close.
    api.mention(ACCOUNT, SITI, f"@{USERNAME} sudah pak, terima kasih",
                referenced_tweets=[{"type": "replied_to", "id": api.posted[-1]["id"]}], in_reply_to_user_id=ACCOUNT)
    await poller.poll_once()
    work(redis_conn)
    mailbox.append(b"From: Rudi Hartono <rudi.hartono@example.co.id>\nTo: pengaduan@jakarta.go.id\n"
                   b"Subject: Re: Sampah menumpuk di Pondok Bambu\nMessage-ID: <rudi-20261124-2@example.co.id>\n"
                   b"In-Reply-To: " + resolved_mail["Message-ID"].encode() + b"\n"
                   b"Content-Type: text/plain; charset=utf-8\n\nSudah, terima kasih.\n\n"
                   b"Pada Sel, 24 Nov 2026 pukul 10.00 Pengaduan Warga Jakarta menulis:\n> Tiket ...\n")
    await read_inbox(channels["email"], redis_conn)
    assert ticket_of("twitter").status == "closed" and ticket_of("email").status == "closed"
