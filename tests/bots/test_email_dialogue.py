"""The "where?" dialogue over email, a whole conversation: mail read by the real inbox reader from Dovecot,
the router's jobs on real Redis + RQ (SQLite and PostgreSQL), replies sent by the real sender to aiosmtpd,
threaded under the citizen's mail.

A report without a place is filed waiting for it (needs_info) and the reply asks where; the citizen's next
mail, a new one and not a reply to ours, is read as the answer before anything else: the address it names
completes the ticket."""
from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from bots import registry
from bots.email.inbox import InboxReader
from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store.models import Outbox, Question, Ticket, TicketEvent
from tests.fakes.mail import Mailbox, Received, SmtpServer

HUB = "pengaduan@jakarta.go.id"
SITI = "siti.rahma@example.co.id"
PONDOK_BAMBU = "31.75.07.1002"
AREA_CODE = re.compile(r"\b31\.\d\d")


@pytest.fixture
def config(db_url: str, redis_conn: redis.Redis, mailbox: Mailbox, smtp_server: SmtpServer) -> Iterator[dict]:
    """This process wired as a worker that reads and sends mail; yields the email config section."""
    section = {**mailbox.config(HUB), "smtp": smtp_server.config(HUB)["smtp"]}
    db.configure(db_url)
    context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    registry.configure({"email": section})
    yield section
    registry.configure({})


def mail(message_id: str, subject: str, body: str) -> bytes:
    """A new mail from Siti (not a reply: no In-Reply-To, no References, no "Re:")."""
    return (f"From: Siti Rahma <{SITI}>\nTo: {HUB}\nSubject: {subject}\nMessage-ID: {message_id}\n"
            "Date: Tue, 24 Nov 2026 08:15:00 +0700\nContent-Type: text/plain; charset=utf-8\n\n"
            f"{body}\n").encode()


async def send(config: dict[str, Any], mailbox: Mailbox, smtp: SmtpServer, conn: redis.Redis,
               source: bytes) -> list[Received]:
    """The mail arrives; the hub reads the inbox and works every queue until empty. → the mails it sent."""
    before = len(smtp.received)
    mailbox.append(source)
    reader = InboxReader(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await reader.connect()
    try:
        assert await reader.fetch_new() == 1
    finally:
        await reader.close()
    queues = [Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")
    sent = smtp.received[before:]
    assert sent, "no answer to the mail"
    return sent


def body(received: Received) -> str:
    return received.message.get_body(("plain",)).get_content()


def the_ticket() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket)).one()


async def test_a_new_mail_naming_the_address_completes_the_ticket_waiting_for_it(
        config: dict[str, Any], mailbox: Mailbox, smtp_server: SmtpServer, redis_conn: redis.Redis) -> None:
    report_id, answer_id = "<siti-20261124-1@example.co.id>", "<siti-20261124-2@example.co.id>"
    acks = await send(config, mailbox, smtp_server, redis_conn,
                      mail(report_id, "Banjir", "Banjir setinggi lutut depan rumah, tolong"))
    ticket = the_ticket()
    assert ticket.status == "needs_info" and ticket.channel == "email"
    assert ticket.kelurahan_kode is None and ticket.kecamatan_kode is None
    [ack] = acks
    assert ack.rcpt_tos == [SITI] and ack.message["In-Reply-To"] == report_id
    assert ticket.public_id in body(ack) and "alamat" in body(ack)  # it asks where
    with db.session() as s:
        [asked] = s.scalars(select(Question)).all()
        assert (asked.kind, asked.status, asked.ticket_id) == ("place", "open", ticket.id)

    # A new mail, not a reply to ours, that only names the place.
    answers = await send(config, mailbox, smtp_server, redis_conn,
                         mail(answer_id, "Alamat banjir", "Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"))
    placed = the_ticket()  # still the one ticket: the address is no report of its own
    assert placed.id == ticket.id
    assert placed.kelurahan_kode == PONDOK_BAMBU and placed.kecamatan_kode == "31.75.07"
    assert placed.status != "needs_info"
    assert all(a.rcpt_tos == [SITI] and a.message["In-Reply-To"] == answer_id for a in answers)
    said = "\n".join(body(a) for a in answers)
    assert f"Lokasi tiket {ticket.public_id}:" in said
    assert "Kel. Pondok Bambu, Kec. Duren Sawit, Jakarta Timur" in said
    for sent in smtp_server.received:
        for text in (body(sent), str(sent.message["Subject"])):
            assert not AREA_CODE.search(text), f"an area code in a reply: {text!r}"
    with db.session() as s:
        assert [q.status for q in s.scalars(select(Question))] == ["answered"]
        kinds = [e.kind for e in s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id))]
        assert "place_set" in kinds
        assert {o.status for o in s.scalars(select(Outbox)) if o.channel == "email"} == {"sent"}
