"""Telegram end to end: the real python-telegram-bot client against the fake Bot API, real Redis + RQ,
the store on SQLite and PostgreSQL. Updates are polled, stored, processed by an RQ worker, and the
replies arrive back at the fake server."""
from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
import redis
from rq import Queue, SimpleWorker
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy import update as update_

from bots.telegram.poll import Poller
from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store.models import Cursor, InboundMessage, Outbox, Ticket, TicketEvent, utcnow
from tests.conftest import fixture
from tests.fakes.nominatim import FakeNominatim
from tests.fakes.telegram_api import FakeBotAPI

pytestmark = pytest.mark.usefixtures("hub")


def work(conn: redis.Redis) -> None:
    """Run an RQ worker until both queues are empty."""
    queues = [Queue(OUTBOX_QUEUE, connection=conn), Queue(INTAKE_QUEUE, connection=conn)]
    SimpleWorker(queues, connection=conn).work(burst=True, logging_level="WARNING")


async def poll(config: dict[str, Any], conn: redis.Redis) -> Poller:
    """One getUpdates round through a real Poller."""
    poller = Poller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await poller.start()
    await poller.poll_once()
    await poller.bot.shutdown()
    return poller


async def deliver(api: FakeBotAPI, config: dict[str, Any], conn: redis.Redis, *updates: dict[str, Any]) -> Poller:
    """Queue updates at the fake Bot API, poll them once, and run the worker until the queues are empty."""
    for u in updates:
        api.push(u)
    poller = await poll(config, conn)
    work(conn)
    return poller


def tickets() -> list[Ticket]:
    with db.session() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def update(name: str, update_id: int | None = None, **message: Any) -> dict[str, Any]:
    data = copy.deepcopy(fixture("telegram", name))
    if update_id is not None:
        data["update_id"] = update_id
    if message:
        data["message"].update(message)
    return data


async def test_a_message_becomes_a_ticket_and_an_indonesian_ack(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    [ticket] = tickets()
    assert ticket.category == "flood" and ticket.channel == "telegram" and ticket.status == "open"
    assert ticket.public_id and ticket.public_id.startswith("JKT-")
    [sent] = fake_api.sent
    assert sent["chat_id"] == 52710031 and sent["reply_to"] == 201
    assert ticket.public_id in sent["text"] and "laporan Anda sudah kami terima" in sent["text"]
    assert "banjir" in sent["text"].lower()
    # The place the text names is geocoded offline, and the ack says what was understood.
    assert (ticket.kelurahan_kode, ticket.kecamatan_kode, ticket.kab_kota_kode) == ("31.75.07.1003", "31.75.07", "31.75")
    assert ticket.geocode_source == "text:kelurahan" and ticket.lat is not None
    assert "Kel. Klender, Kec. Duren Sawit, Jakarta Timur." in sent["text"] and "31.75" not in sent["text"]
    # Nobody covers it: the acknowledgement says so, and never that officers have it.
    assert "belum ada petugas" in sent["text"] and "diteruskan ke" not in sent["text"]
    with db.session() as s:
        row = s.scalars(select(Outbox)).one()
        assert row.status == "sent" and row.provider_message_id == str(sent["message"]["message_id"])
        # No officer covers Klender here: the ticket waits, and that is on record.
        assert [e.kind for e in s.scalars(select(TicketEvent))] == ["created", "unrouted"]


async def test_an_english_message_gets_an_english_ack(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("text_english"))
    [ticket] = tickets()
    assert ticket.category == "road_damage" and ticket.language == "en"
    [sent] = fake_api.sent
    assert sent["text"].startswith("Thank you, we have received your report as ticket " + ticket.public_id)


async def test_the_same_update_twice_makes_one_ticket_and_one_ack(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    # The hub crashed before Telegram learnt the new offset, and lost its own cursor too:
    # Telegram delivers the same update again.
    with db.session() as s:
        s.query(Cursor).delete()
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    assert len(tickets()) == 1 and len(fake_api.sent) == 1
    with db.session() as s:
        assert len(s.scalars(select(InboundMessage)).all()) == 1


async def test_the_offset_is_confirmed_only_after_the_batch_is_stored(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.push(update("text_message"))

    def broken_store(self: Intake, batch: object) -> list[int]:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(Intake, "accept", broken_store)
    poller = Poller(telegram_config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    await poller.start()
    with pytest.raises(RuntimeError):
        await poller.poll_once()
    assert poller.offset is None
    monkeypatch.undo()
    await poller.poll_once()  # same offset: Telegram serves the update again
    await poller.bot.shutdown()
    assert poller.offset == 700000102
    work(redis_conn)
    assert len(tickets()) == 1


async def test_photo_location_and_reply_follow_up_a_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("photo_with_caption"))
    [ticket] = tickets()
    assert ticket.category == "garbage" and ticket.photo_file_id == "telegram:file:123456789:AgACAgUAAxkBAAIBY2Vt_large"
    ack_id = fake_api.sent[0]["message"]["message_id"]

    fake_api.push(update("location"))  # a location alone, minutes later: it joins the ticket
    fake_api.push(update("reply_message", reply_to_message={**fixture("telegram", "reply_message")["message"]["reply_to_message"],
                                                           "message_id": ack_id}))
    await poll(telegram_config, redis_conn)
    work(redis_conn)
    [ticket] = tickets()
    assert (ticket.lat, ticket.lon) == (-6.225014, 106.900447)  # the shared point, reverse-geocoded
    assert ticket.kelurahan_kode == "31.75.07.1002" and ticket.geocode_source == "point"  # Pondok Bambu
    with db.session() as s:
        kinds = [e.kind for e in s.scalars(select(TicketEvent).order_by(TicketEvent.id))]
    assert [k for k in kinds if k != "unrouted"] == ["created", "citizen_attachment", "citizen_comment"]
    texts = [m["text"] for m in fake_api.sent]
    # The shared point replaces the place the text named, and the reply says where that is.
    assert texts[1] == (f"Lokasi sudah ditambahkan ke tiket {ticket.public_id}. Terima kasih! "
                        "Lokasinya: Kel. Pondok Bambu, Kec. Duren Sawit, Jakarta Timur.")
    assert texts[2] == f"Tambahan informasi sudah dicatat untuk tiket {ticket.public_id}."


async def test_a_location_with_no_recent_ticket_files_one_and_asks_for_details(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("location"))
    [ticket] = tickets()
    assert ticket.lat == -6.225014 and ticket.category is None  # no text: nothing to classify yet
    assert ticket.kelurahan_kode == "31.75.07.1002"
    assert "Mohon ceritakan masalahnya" in fake_api.sent[0]["text"]


async def test_start_help_and_status_commands(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    [ticket] = tickets()
    fake_api.push(update("command_start", 800000001))
    fake_api.push(update("command_start", 800000002, message_id=301, text="/help"))
    fake_api.push(update("command_start", 800000003, message_id=302, text=f"/status {ticket.public_id.lower()}"))
    fake_api.push(update("command_start", 800000004, message_id=303, text="/status JKT-2026-999999"))
    await deliver(fake_api, telegram_config, redis_conn, update("command_start", 800000005, message_id=304, text="/status"))
    start, help_, status, unknown, mine = [m["text"] for m in fake_api.sent[1:]]
    assert start.startswith("Selamat datang di kanal laporan warga Jakarta")
    assert "/status <nomor tiket>" in help_
    assert status.startswith(f"Tiket {ticket.public_id}\nStatus: tercatat, belum diteruskan ke petugas\nKategori: banjir")
    assert status.endswith(" WIB")  # the city's clock
    assert unknown.startswith("Tiket JKT-2026-999999 tidak ditemukan")
    assert ticket.public_id in mine
    assert len(tickets()) == 1  # commands file no tickets


async def test_greetings_get_a_hint_and_no_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("text_message", text="Selamat pagi min 🙏"))
    assert tickets() == []
    assert fake_api.sent[0]["text"].startswith("Halo! Untuk melapor")


async def test_malformed_and_unsupported_updates_are_kept_and_the_loop_goes_on(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("malformed_chat", "sticker", "edited_message", "malformed_date", "text_message"):
        fake_api.push(update(name))
    with caplog.at_level(logging.INFO, logger="ingest.intake"):
        poller = await poll(telegram_config, redis_conn)
    work(redis_conn)
    assert poller.offset == 700000116  # past every update, the malformed ones included
    assert len(tickets()) == 1 and len(fake_api.sent) == 1
    with db.session() as s:
        rows = {r.key.split(":")[1]: r for r in s.scalars(select(InboundMessage))}
    assert rows["700000112"].status == "rejected" and rows["700000112"].raw["message"]["chat"] == "52710031"
    assert rows["700000110"].status == "ignored" and rows["700000110"].reason == "unsupported message content: sticker"
    assert rows["700000109"].reason == "edited message (only live location updates are read)"
    assert rows["700000115"].status == "rejected" and "OverflowError" in (rows["700000115"].reason or "")
    rejected = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "rejected" in r.getMessage()]
    assert len(rejected) == 2 and "700000112" in rejected[0] and "700000115" in rejected[1]


async def test_a_429_is_waited_out_and_the_reply_sent_once(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    fake_api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429,
                                            "description": "Too Many Requests: retry after 1",
                                            "parameters": {"retry_after": 1}})
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    assert fake_api.calls.count("sendMessage") == 2 and len(fake_api.sent) == 1
    with db.session() as s:
        row = s.scalars(select(Outbox)).one()
        assert row.status == "sent" and row.attempts == 1  # a 429 is not a failed attempt


async def test_a_long_429_leaves_the_chat_waiting_and_schedules_a_job_for_when_it_ends(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    from rq.registry import ScheduledJobRegistry

    fake_api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 600",
                                            "parameters": {"retry_after": 600}})
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"),
                  update("text_message", 700000301, message_id=601, text="Sampah numpuk di depan pasar"))
    assert fake_api.sent == [] and fake_api.calls.count("sendMessage") == 1  # the second waits behind the first
    with db.session() as s:
        rows = list(s.scalars(select(Outbox).order_by(Outbox.id)))
    assert [r.status for r in rows] == ["pending", "pending"] and rows[0].attempts == 0
    assert rows[0].not_before is not None
    scheduled = ScheduledJobRegistry(OUTBOX_QUEUE, connection=redis_conn)
    assert len(scheduled.get_job_ids()) == 1
    from router.replies import send_outbox

    assert send_outbox([r.id for r in rows]) == {"sent": 0}  # too early: nothing goes out
    assert fake_api.sent == []
    assert len(scheduled.get_job_ids()) == 1  # the early job replaced the scheduled one, added none


async def test_a_failing_send_stays_in_the_outbox_and_keeps_chat_order(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    context.configure(RouterConfig(retry_intervals=[30, 60]), redis_conn)
    fake_api.fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    fake_api.push(update("text_message"))
    fake_api.push(update("text_message", 700000201, message_id=401, text="Sampah numpuk di depan pasar"))
    await poll(telegram_config, redis_conn)
    work(redis_conn)  # the first send fails; the second must not overtake it
    assert fake_api.sent == []
    with db.session() as s:
        rows = list(s.scalars(select(Outbox).order_by(Outbox.id)))
    assert [r.status for r in rows] == ["pending", "pending"] and rows[0].attempts == 1
    assert "Bad Gateway" in (rows[0].last_error or "")
    from router.replies import send_outbox

    assert send_outbox([r.id for r in rows]) == {"sent": 0}  # its next try is not due yet: nothing changes
    with db.session() as s:  # 30 s later (retry_intervals[0]): the job scheduled for then finds it due
        s.execute(update_(Outbox).where(Outbox.id == rows[0].id).values(not_before=utcnow()))
    assert send_outbox([r.id for r in rows]) == {"sent": 2}
    assert [m["reply_to"] for m in fake_api.sent] == [201, 401]
    send_outbox([r.id for r in rows])  # a repeated job sends nothing twice
    assert len(fake_api.sent) == 2


async def test_a_blocked_bot_marks_the_reply_failed_without_retrying(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    fake_api.fail_next("sendMessage", 403, {"ok": False, "error_code": 403,
                                            "description": "Forbidden: bot was blocked by the user"})
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    with db.session() as s:
        row = s.scalars(select(Outbox)).one()
    assert row.status == "failed" and "blocked" in (row.last_error or "")
    assert fake_api.calls.count("sendMessage") == 1


async def test_the_sweep_recovers_a_message_whose_job_was_lost(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    fake_api.push(update("text_message"))
    await poll(telegram_config, redis_conn)
    redis_conn.flushdb()  # Redis lost the queue (no AOF, crash) after the message was stored
    from router.recover import sweep

    assert sweep(older_than_seconds=0) == {"inbound": 1, "outbox": 0, "tickets": 0, "expired": 0,
                                            "expired_tickets": 0}
    work(redis_conn)
    assert len(tickets()) == 1 and len(fake_api.sent) == 1
    assert sweep(older_than_seconds=0) == {"inbound": 0, "outbox": 0, "tickets": 0, "expired": 0,
                                            "expired_tickets": 0}


async def test_the_sweep_recovers_a_reply_whose_retry_was_lost(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    fake_api.fail_next("sendMessage", 502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
    await deliver(fake_api, telegram_config, redis_conn, update("text_message"))
    assert fake_api.sent == []
    redis_conn.flushdb()  # the retry RQ had scheduled is gone
    from router.recover import sweep

    assert sweep(older_than_seconds=60) == {"inbound": 0, "outbox": 0, "tickets": 0, "expired": 0,
                                            "expired_tickets": 0}  # a moment ago: RQ's business
    with db.session() as s:  # an hour later: its next try long due, and no job came
        s.execute(update_(Outbox).values(updated_at=utcnow() - timedelta(hours=1),
                                         not_before=utcnow() - timedelta(minutes=59)))
    assert sweep(older_than_seconds=60)["outbox"] == 1
    work(redis_conn)
    assert len(fake_api.sent) == 1


async def test_replies_in_a_batch_keep_the_order_of_the_messages(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, update("command_start"),
                  update("text_message", 700000401, message_id=701))
    assert [m["reply_to"] for m in fake_api.sent] == [207, 701]


async def test_two_workers_on_the_same_messages_file_one_ticket_each(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    import threading

    from router.pipeline import process_inbound

    for i in range(20):
        fake_api.push(update("text_message", 900000000 + i, message_id=500 + i))
    await poll(telegram_config, redis_conn)
    with db.session() as s:
        ids = list(s.scalars(select(InboundMessage.id)))
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(process_inbound(ids))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["handled"] for r in results) == [0, 20]
    assert len(tickets()) == 20


async def test_a_street_only_report_is_placed_through_the_configured_nominatim(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    with FakeNominatim({"Jalan pemuda asli, Jakarta": (-6.1800, 106.8860)}) as server:  # in Kel. Kayu Putih
        context.configure(RouterConfig(retry_intervals=[1, 2], nominatim_url=server.url), redis_conn)
        try:
            await deliver(fake_api, telegram_config, redis_conn,
                          update("text_message", text="lampu jalan mati di jl. pemuda asli no 5"))
        finally:
            context.configure(RouterConfig(retry_intervals=[1, 2]), redis_conn)
    [ticket] = tickets()
    assert ticket.geocode_source == "nominatim" and ticket.kelurahan_kode == "31.75.02.1006"
    assert "Kel. Kayu Putih" in fake_api.sent[0]["text"]
