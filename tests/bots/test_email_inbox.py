"""The inbox reader against a real Dovecot on loopback, storing through the real Intake (SQLite and
PostgreSQL, Redis): persist before \\Seen, Message-ID idempotency, IDLE and polling, bad mail beside good."""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from bots.email.config import EmailSettings
from bots.email.inbox import InboxReader
from ingest.intake import INTAKE_QUEUE, Batch, Intake
from store import db, media
from store.models import InboundMessage
from tests.fakes.mail import Mailbox
from tests.fakes.settings import quick

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"


def quick_imap(mailbox: Mailbox, **imap: Any) -> EmailSettings:
    """The mailbox's settings with imap values a config file refuses (a 0.2 s poll, a 1500-byte batch)."""
    settings = EmailSettings.model_validate(mailbox.config())
    return quick(settings, imap=quick(settings.imap, **imap))


def eml(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


@pytest.fixture
def intake(db_url: str, redis_conn: redis.Redis) -> Intake:
    return Intake(db.configure(db_url), Queue(INTAKE_QUEUE, connection=redis_conn))


def rows() -> dict[str, InboundMessage]:
    with db.session() as s:
        return {r.key: r for r in s.scalars(select(InboundMessage).where(InboundMessage.channel == "email"))}


async def until(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """Wait until check() is truthy (polled off the event loop's thread); fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(check)
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {seconds}s: {check}")


async def test_mail_is_stored_before_it_is_flagged_seen(mailbox: Mailbox, intake: Intake,
                                                        redis_conn: redis.Redis) -> None:
    mailbox.append(eml("plain_text"))
    mailbox.append(eml("photo_jpeg"))
    unseen_while_storing: list[list[str]] = []
    accept = intake.accept

    def watched(batch: Batch) -> list[int]:
        unseen_while_storing.append(mailbox.unseen())  # what the server says while we store
        return accept(batch)

    intake.accept = watched  # type: ignore[method-assign]
    reader = InboxReader(mailbox.config(), intake)
    await reader.connect()
    try:
        assert reader.idle  # Dovecot offers IDLE and the config allows it
        assert await reader.fetch_new() == 2
        assert await reader.fetch_new() == 0  # flagged: not read again
    finally:
        await reader.close()
    keys = ["<CAJx8Lq2v9PzK3r@mail.gmail.com>", "<PH0PR11MB5000A1B2C3@PH0PR11MB5000.namprd11.prod.outlook.com>"]
    assert unseen_while_storing == [sorted(keys)]  # nothing was flagged before the store
    stored = rows()
    assert sorted(stored) == sorted(keys) and {r.status for r in stored.values()} == {"received"}
    assert stored[keys[0]].message["text"].startswith("Banjir di Kampung Melayu")
    assert stored[keys[1]].message["media"][0]["mime_type"] == "image/jpeg"
    with db.session() as s:  # the photo's bytes are kept with the mail, for the officers' card and pages
        assert media.load(s, stored[keys[1]].message["media"][0]["file_id"])[1] == "image/jpeg"  # type: ignore[index]
    assert mailbox.unseen() == [] and all("\\Seen" in f for f in mailbox.flags().values())
    assert Queue(INTAKE_QUEUE, connection=redis_conn).count == 1  # one batch, one pipeline job


async def test_a_failed_store_leaves_mail_unseen_and_the_next_pass_stores_it_once(mailbox: Mailbox,
                                                                                   intake: Intake) -> None:
    mailbox.append(eml("plain_text"))
    calls = {"n": 0}
    accept = intake.accept

    def flaky(batch: Batch) -> list[int]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database is down")
        return accept(batch)

    intake.accept = flaky  # type: ignore[method-assign]
    reader = InboxReader(mailbox.config(), intake)
    await reader.connect()
    try:
        with pytest.raises(RuntimeError, match="database is down"):
            await reader.fetch_new()
        assert rows() == {} and mailbox.unseen() == ["<CAJx8Lq2v9PzK3r@mail.gmail.com>"]
        assert await reader.fetch_new() == 1
        assert list(rows()) == ["<CAJx8Lq2v9PzK3r@mail.gmail.com>"] and mailbox.unseen() == []
        # The same mail delivered again (a resend, or a flag lost after the store): same Message-ID, no new row.
        mailbox.append(eml("plain_text"))
        assert await reader.fetch_new() == 1
    finally:
        await reader.close()
    assert len(rows()) == 1 and mailbox.unseen() == []


async def test_bad_mail_is_kept_with_its_reason_and_the_good_mail_beside_it_is_stored(
        mailbox: Mailbox, intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("broken_mime_garbage", "oversized_photo", "auto_reply", "plain_text"):
        mailbox.append(eml(name))
    config = mailbox.config()
    config["max_attachment_bytes"] = 1000
    reader = InboxReader(config, intake)
    caplog.set_level(logging.INFO, logger="bots.email")
    await reader.connect()
    try:
        assert await reader.fetch_new() == 4
    finally:
        await reader.close()
    stored = rows()
    garbage = stored["<garbage-1@contoh.co.id>"]
    assert garbage.status == "rejected" and garbage.reason.startswith("nothing readable (broken MIME")
    assert garbage.raw["source_b64"]  # kept for inspection
    photos = stored["<CAJx8Lq-photos-2@mail.gmail.com>"]
    assert photos.status == "received" and len(photos.message["media"]) == 1  # the small photo only
    assert photos.raw["dropped"][-1]["filename"] == "besar.jpg"
    assert stored["<CAJx8Lq-vacation-9@mail.gmail.com>"].status == "ignored"
    assert stored["<CAJx8Lq2v9PzK3r@mail.gmail.com>"].status == "received"
    assert mailbox.unseen() == []  # all four are stored, so all four are done
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "bots.email.inbox"]
    assert any("rejected mail" in w and "<garbage-1@contoh.co.id>" in w and "nothing readable" in w for w in warnings)
    assert any("<CAJx8Lq-photos-2@mail.gmail.com>" in w and "besar.jpg (4123 bytes)" in w
               and "over max_attachment_bytes 1000" in w for w in warnings)
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and r.name == "bots.email.inbox"]
    assert any("ignored mail" in i and "Auto-Submitted" in i for i in infos)
    assert any("stored mail" in i and "<CAJx8Lq2v9PzK3r@mail.gmail.com>" in i for i in infos)


async def test_a_mail_over_max_message_bytes_is_rejected_without_downloading_it(mailbox: Mailbox,
                                                                                intake: Intake) -> None:
    mailbox.append(eml("oversized_photo"))  # about 6.7 kB
    mailbox.append(eml("plain_text"))
    config = mailbox.config()
    config["max_message_bytes"] = 2000
    reader = InboxReader(config, intake)
    await reader.connect()
    assert reader.client is not None
    fetched: list[tuple[str, ...]] = []
    uid = reader.client.uid

    async def spy(command: str, *criteria: str) -> Any:
        fetched.append((command, *criteria))
        return await uid(command, *criteria)

    reader.client.uid = spy  # type: ignore[method-assign]
    try:
        assert await reader.fetch_new() == 2
    finally:
        await reader.close()
    big = rows()["<CAJx8Lq-photos-2@mail.gmail.com>"]
    assert big.status == "rejected" and big.reason.endswith("over max_message_bytes 2000: not downloaded")
    assert big.raw["headers"]["Subject"] == "Foto banjir Kampung Melayu" and "source_b64" not in big.raw
    assert rows()["<CAJx8Lq2v9PzK3r@mail.gmail.com>"].status == "received"
    bodies = [c for c in fetched if c[0] == "fetch" and c[2] == "BODY.PEEK[]"]
    headers = [c for c in fetched if c[0] == "fetch" and c[2] == "BODY.PEEK[HEADER]"]
    assert len(bodies) == 1 and len(headers) == 1 and bodies[0][1] != headers[0][1]
    assert mailbox.unseen() == []


async def passes(reader: InboxReader) -> list[int]:
    """Mails stored per pass, until a pass leaves nothing for the next."""
    counts = []
    await reader.connect()
    try:
        while True:
            counts.append(await reader.fetch_new())
            if not reader.more:
                return counts
    finally:
        await reader.close()


@pytest.mark.parametrize("limit, expected", [({"batch_size": 3}, [3, 1]),
                                             # ~580, ~1040, ~620 and ~385 bytes with CRLF line ends
                                             ({"batch_bytes": 1500}, [1, 1, 2])])
async def test_a_backlog_is_read_in_bounded_passes(limit: dict[str, int], expected: list[int], mailbox: Mailbox,
                                                   intake: Intake) -> None:
    for name in ("plain_text", "photo_jpeg", "html_only", "windows1252"):
        mailbox.append(eml(name))
    assert await passes(InboxReader(quick_imap(mailbox, **limit), intake)) == expected
    assert len(rows()) == 4 and mailbox.unseen() == []


async def test_idle_picks_up_a_mail_appended_while_waiting(mailbox: Mailbox, intake: Intake) -> None:
    reader = InboxReader(mailbox.config(idle=True), intake)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await until(lambda: reader.client is not None and reader.client.has_pending_idle())
        started = time.monotonic()
        await asyncio.to_thread(mailbox.append, eml("plain_text"))
        await until(lambda: "<CAJx8Lq2v9PzK3r@mail.gmail.com>" in rows(), seconds=5)
        assert time.monotonic() - started < 2.0  # pushed by the server, not found by a poll
        await until(lambda: mailbox.unseen() == [])
        # Back to IDLE, and a second mail comes the same way.
        await until(lambda: reader.client is not None and reader.client.has_pending_idle())
        await asyncio.to_thread(mailbox.append, eml("photo_jpeg"))
        await until(lambda: len(rows()) == 2, seconds=3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert reader.client is None  # logged out at stop


async def test_a_mail_arriving_during_a_pass_is_not_left_waiting_for_the_next_idle(
        mailbox: Mailbox, intake: Intake) -> None:
    """The server tells of a mail that arrives while we store the last one along with our own commands'
    answers, not in IDLE: the reader must notice and look again instead of idling past it."""
    mailbox.append(eml("plain_text"))
    accept = intake.accept

    def and_another(batch: Batch) -> list[int]:
        if not rows():
            mailbox.append(eml("photo_jpeg"))  # arrives between our SEARCH and our STORE
        return accept(batch)

    intake.accept = and_another  # type: ignore[method-assign]
    reader = InboxReader(mailbox.config(idle=True), intake)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await until(lambda: len(rows()) == 2, seconds=3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert mailbox.unseen() == []


async def test_without_idle_it_polls(mailbox: Mailbox, intake: Intake) -> None:
    reader = InboxReader(quick_imap(mailbox, idle=False, poll_interval=0.2), intake)
    idled: list[bool] = []
    original = reader._idle

    async def no_idle(stop: asyncio.Event) -> None:
        idled.append(True)
        await original(stop)

    reader._idle = no_idle  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await until(lambda: reader.client is not None)
        assert reader.idle is False
        await asyncio.to_thread(mailbox.append, eml("plain_text"))
        await until(lambda: "<CAJx8Lq2v9PzK3r@mail.gmail.com>" in rows(), seconds=3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert idled == [] and mailbox.unseen() == []


async def test_a_dropped_connection_is_reopened_and_nothing_is_lost(mailbox: Mailbox, intake: Intake,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    reader = InboxReader(mailbox.config(), intake)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    try:
        await until(lambda: reader.client is not None and reader.client.has_pending_idle())
        first = reader.client
        assert first is not None
        first.protocol.transport.close()  # the network drops the connection mid-IDLE
        await asyncio.to_thread(mailbox.append, eml("plain_text"))
        await until(lambda: "<CAJx8Lq2v9PzK3r@mail.gmail.com>" in rows(), seconds=5)
        assert reader.client is not first
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert any("email inbox" in r.getMessage() and "connection lost" in r.getMessage() for r in caplog.records)


async def test_a_refused_command_does_not_end_the_loop(mailbox: Mailbox, intake: Intake,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    # A mailbox that does not exist: SELECT is refused. (A refused LOGIN takes the same path, but Dovecot
    # then delays every later login from 127.0.0.1 for seconds, which would slow the other tests.)
    reader = InboxReader(mailbox.config(mailbox="Tidak-Ada"), intake)
    stop = asyncio.Event()
    task = asyncio.create_task(reader.run(stop))
    await until(lambda: any("SELECT Tidak-Ada: NO" in r.getMessage() for r in caplog.records), seconds=5)
    assert not task.done()  # still trying, with backoff
    stop.set()
    await asyncio.wait_for(task, 5)
    assert reader.client is None and rows() == {}


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_tls(security: str, mailbox: Mailbox, intake: Intake) -> None:
    if not mailbox.server.certificate:
        pytest.skip("no openssl CLI to make a test certificate")
    mailbox.append(eml("plain_text"))
    reader = InboxReader(mailbox.config(security=security), intake)
    await reader.connect()
    try:
        assert reader.client is not None
        assert reader.client.protocol.transport.get_extra_info("ssl_object") is not None
        assert await reader.fetch_new() == 1
    finally:
        await reader.close()
    assert list(rows()) == ["<CAJx8Lq2v9PzK3r@mail.gmail.com>"] and mailbox.unseen() == []


async def test_a_mail_the_server_will_not_hand_over_is_retried_then_kept_as_rejected(
        mailbox: Mailbox, intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    from aioimaplib import Response

    from bots.email.inbox import FETCH_TRIES

    mailbox.append(eml("plain_text"))  # uid 1: the server fails to read it
    mailbox.append(eml("photo_jpeg"))  # uid 2: fine
    reader = InboxReader(mailbox.config(), intake)
    await reader.connect()
    uid = reader.client.uid

    async def failing(command: str, *args: str) -> Any:
        if command == "fetch" and args == ("1", "BODY.PEEK[]"):
            return Response("NO", [b"Mailbox is corrupted"])
        return await uid(command, *args)

    reader.client.uid = failing  # type: ignore[method-assign]
    try:
        with caplog.at_level(logging.WARNING, logger="bots.email.inbox"):
            assert await reader.fetch_new() == 1  # the other mail is not held up
            for _ in range(FETCH_TRIES - 2):
                assert await reader.fetch_new() == 0
            assert await reader.fetch_new() == 1  # the last try: kept as rejected, and flagged
            assert await reader.fetch_new() == 0
    finally:
        await reader.close()
    stored = rows()
    [rejected] = [r for r in stored.values() if r.status == "rejected"]
    assert "would not return mail uid 1" in rejected.reason and "Mailbox is corrupted" in rejected.reason
    assert mailbox.unseen() == []
    assert any("trying again" in r.getMessage() for r in caplog.records)
