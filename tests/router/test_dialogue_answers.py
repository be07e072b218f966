"""Conversations as people type them, over the fake Bot API with the real client (SQLite and PostgreSQL): a
typed answer to "where?" completes the ticket and is named back; a category answered by its name; a new
report while a question is open; a question asked twice and then dropped; a place outside the city; stale
buttons; the officer told of the citizen's answer; truthful statuses before and after "ambil"; WIB."""
from __future__ import annotations

import re
from typing import Any

import pytest
import redis
from sqlalchemy import select

from hub.settings import RoutingSettings
from router import context
from router.context import RouterConfig
from store import db
from store import officers as roster
from store.models import Question, Ticket, TicketEvent
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import (AFTER, CITIZEN, OFFICER, POINT, body, deliver, message, press,
                                                  sent_to)

pytestmark = pytest.mark.usefixtures("hub")

REPORT = "Banjir setinggi lutut depan rumah saya, tolong pak"
ANSWER = "Jl. Pahlawan Revolusi, kelurahan Pondok Bambu"  # Duren Sawit, Jakarta Timur: Budi covers it
PLACE_WORDS = "Kel. Pondok Bambu, Kec. Duren Sawit, Jakarta Timur"
CODE = re.compile(r"\b31\.\d\d(\.\d\d)?")  # an area code shown as a place
BANDUNG = {"latitude": -6.9175, "longitude": 107.6191}


@pytest.fixture(autouse=True)
def crop(hub: str, redis_conn: redis.Redis) -> None:
    """Routing defaults and one PPSU officer of Duren Sawit for SDA work."""
    configure()
    with db.session() as s:
        roster.add(s, {"name": "Budi (PPSU)", "telegram_id": str(OFFICER["id"]), "role": "petugas",
                       "areas": ["31.75.07"], "agencies": ["dsda"]})


def configure(**options: Any) -> None:
    routing = RoutingSettings().model_dump(mode="json", exclude={"officers"})
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing, **options), context.redis())


def tickets() -> list[Ticket]:
    with db.session() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def texts(api: FakeBotAPI, user: dict[str, Any]) -> list[str]:
    return [body(m) for m in sent_to(api, user)]


async def test_a_typed_answer_to_where_completes_the_ticket_and_is_named_back(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    [ack] = texts(fake_api, CITIZEN)
    assert "belum diketahui" in ack and "diteruskan" not in ack  # nobody has it yet: not said
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=ANSWER))  # typed, not a swipe-reply
    [t] = tickets()  # no second ticket
    assert t.status == "assigned" and t.kelurahan_kode == "31.75.07.1002" and t.category == "flood"
    said = texts(fake_api, CITIZEN)[1:]
    assert any(PLACE_WORDS in s for s in said)
    assert any("diteruskan ke petugas Dinas Sumber Daya Air" in s for s in said)
    [card] = sent_to(fake_api, OFFICER)
    assert PLACE_WORDS in card["text"] and not CODE.search(card["text"])
    for text in texts(fake_api, CITIZEN):
        assert not CODE.search(text)
    with db.session() as s:
        [q] = s.scalars(select(Question)).all()
        assert q.kind == "place" and q.status == "answered"


async def test_a_new_report_during_an_open_question_is_filed_and_the_question_recalled(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Satu lagi pak, ada pohon tumbang menutup jalan, bahaya buat motor"))
    first, second = tickets()  # no place in it, and a problem of its own: a report, not an answer
    assert first.status == "needs_info" and second.category == "tree"
    reply = texts(fake_api, CITIZEN)[1]
    assert second.public_id in reply and f"{first.public_id} masih menunggu lokasinya" in reply


async def test_an_answer_that_says_more_than_the_address_is_still_the_answer(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    await deliver(fake_api, telegram_config, redis_conn, message(
        CITIZEN, text="depan warung bu Ani, di pinggir kali yang banyak sampahnya, kelurahan Pondok Bambu"))
    [t] = tickets()  # it names a place: it answers "where?", whatever else it says
    assert t.category == "flood" and t.kelurahan_kode == "31.75.07.1002" and t.status == "assigned"


async def test_a_report_and_its_answer_in_one_poll_are_one_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT), message(CITIZEN, text=ANSWER))
    [t] = tickets()
    assert t.kelurahan_kode == "31.75.07.1002" and t.status == "assigned"


async def test_a_photo_with_words_while_the_hub_waits_for_where_joins_the_ticket(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, photo=AFTER, caption="ini fotonya pak"))
    [t] = tickets()
    assert t.photo_file_id == "telegram:file:123456789:after" and t.status == "needs_info"
    assert "contoh" in texts(fake_api, CITIZEN)[-1]  # still asked where


async def test_a_kota_alone_is_not_enough_and_the_citizen_is_asked_for_more(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text="Banjir parah di Jakarta Timur, tolong"))
    [t] = tickets()
    assert t.status == "needs_info"
    assert "Jakarta Timur — belum cukup tepat" in texts(fake_api, CITIZEN)[0]


async def test_a_point_just_past_the_border_counts_as_the_nearest_kelurahan(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    # About 500 m south of Cibubur's edge: within city.boundary_margin_m, as Open311 counts it too.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, location={"latitude": -6.37711, "longitude": 106.88742}))
    [t] = tickets()
    assert t.kelurahan_kode == "31.75.09.1002" and t.status != "needs_info"
    assert "Kel. Cibubur" in texts(fake_api, CITIZEN)[-1]


async def test_a_question_is_asked_again_once_then_the_ticket_goes_on_without_it(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text="di dekat rumah saya pokoknya"))
    again = texts(fake_api, CITIZEN)[-1]
    assert "contoh" in again and "Kel. Bangka" in again
    assert tickets()[0].status == "needs_info"
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text="tidak tahu namanya"))
    [t] = tickets()
    assert t.status == "open"  # no longer waits for the citizen; nobody covers a ticket without a place
    said = texts(fake_api, CITIZEN)
    assert any("lokasi belum jelas" in s for s in said)
    assert any("belum ada petugas" in s for s in said) and not any("diteruskan ke" in s for s in said)
    with db.session() as s:
        assert s.scalars(select(Question.status)).one() == "dropped"
        assert "question_dropped" in {e.kind for e in s.scalars(select(TicketEvent))}


async def test_a_location_outside_the_city_is_refused_and_asked_again(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, location=BANDUNG))
    [t] = tickets()
    assert t.status == "needs_info" and t.lat is None
    assert "di luar wilayah DKI Jakarta" in texts(fake_api, CITIZEN)[-1]
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, location=POINT))
    assert tickets()[0].status == "assigned"


async def test_a_category_is_answered_by_its_name(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    configure(confidence_threshold=1.0)  # every category is uncertain: the hub asks which it is
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Air got meluap ke jalan di Jl. Pahlawan Revolusi, kel. Pondok Bambu"))
    ack = sent_to(fake_api, CITIZEN)[0]  # then "diteruskan ke ..."
    assert "Benarkah kategorinya" in body(ack) and ack["reply_markup"]["inline_keyboard"]
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text="sampah"))  # typed, no button
    [t] = tickets()
    assert t.category == "garbage" and t.agency == "dlh"
    assert any("Kategori tiket" in s and "sampah" in s for s in texts(fake_api, CITIZEN)[1:])
    # The question is settled: its buttons are taken off the acknowledgement.
    assert any(e["message_id"] == ack["message"]["message_id"] for e in fake_api.edits)


async def test_statuses_before_and_after_ambil_and_the_officer_told_of_the_confirmation(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"{REPORT}, {ANSWER}"))
    assert tickets()[0].status == "assigned"
    assert "diteruskan ke petugas Dinas Sumber Daya Air" in texts(fake_api, CITIZEN)[-1]
    [card] = sent_to(fake_api, OFFICER)
    await deliver(fake_api, telegram_config, redis_conn, press(OFFICER, card, f"/ambil {tickets()[0].public_id}"))
    assert tickets()[0].status == "taken"
    assert "sedang ditangani oleh petugas" in texts(fake_api, CITIZEN)[-1]
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=card["message"]["message_id"], photo=AFTER, caption="selesai"))
    update = sent_to(fake_api, CITIZEN)[-1]
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, reply_to=update["message"]["message_id"], text="sudah, airnya sudah surut terima kasih"))
    t = tickets()[0]
    assert t.status == "closed"
    told = texts(fake_api, OFFICER)[-1]
    assert "dikonfirmasi warga, tiket ditutup" in told and "airnya sudah surut" in told
    with db.session() as s:
        trail = [e.data["to"] for e in s.scalars(select(TicketEvent).order_by(TicketEvent.id)) if e.kind == "status"]
    assert trail == ["assigned", "taken", "resolved", "closed"]
    # "Sudah beres / Belum" pressed again on the closed ticket: a short notice on the button, the buttons go.
    before = len(sent_to(fake_api, CITIZEN))
    await deliver(fake_api, telegram_config, redis_conn, press(CITIZEN, update, f"/belum {t.public_id}"))
    assert len(sent_to(fake_api, CITIZEN)) == before  # no message, no help text
    assert any("tidak berlaku lagi" in (a.get("text") or "") for a in fake_api.answered)
    assert any(e["message_id"] == update["message"]["message_id"] for e in fake_api.edits)
    assert tickets()[0].status == "closed"


async def test_the_officer_is_told_when_the_citizen_reopens(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"{REPORT}, {ANSWER}"))
    [card] = sent_to(fake_api, OFFICER)
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=card["message"]["message_id"], photo=AFTER, caption="selesai"))
    update = sent_to(fake_api, CITIZEN)[-1]
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, reply_to=update["message"]["message_id"], text="belum, airnya masih setinggi betis"))
    assert tickets()[0].status == "reopened"
    assert any("masih setinggi betis" in t for t in texts(fake_api, OFFICER)[1:])


async def test_status_shows_the_city_s_time(fake_api: FakeBotAPI, telegram_config: dict,
                                            redis_conn: redis.Redis) -> None:
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"{REPORT}, {ANSWER}"))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"/status {tickets()[0].public_id}"))
    status = texts(fake_api, CITIZEN)[-1]
    assert status.rstrip().endswith("WIB") and "UTC" not in status


async def test_an_unanswered_question_expires_and_the_ticket_goes_on(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    from datetime import timedelta

    from rq import Queue, SimpleWorker

    from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE
    from router.recover import sweep
    from store.models import utcnow

    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=REPORT))
    assert tickets()[0].status == "needs_info"
    with db.session() as s:
        s.scalars(select(Question)).one().expires_at = utcnow() - timedelta(seconds=1)
    assert sweep(older_than_seconds=60)["expired"] >= 1
    SimpleWorker([Queue(n, connection=redis_conn) for n in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)],
                 connection=redis_conn).work(burst=True, logging_level="WARNING")
    assert tickets()[0].status == "open"  # not stuck waiting for the citizen
    assert "lokasi belum jelas" in texts(fake_api, CITIZEN)[-1]
    with db.session() as s:
        assert s.scalars(select(Question.status)).one() == "expired"


async def test_a_ticket_nobody_covers_goes_to_the_triage_chat_and_the_citizen_is_told_so(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    routing = RoutingSettings(triage_chat_id="-1009876543210").model_dump(mode="json", exclude={"officers"})
    context.configure(RouterConfig(retry_intervals=[1, 2], routing=routing), redis_conn)
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Lampu jalan mati total di Jl. Kemang Raya, Bangka, Mampang Prapatan"))
    [t] = tickets()
    assert t.status == "assigned" and t.kelurahan_kode == "31.74.03.1002"  # Bangka, read beside its kecamatan
    [card] = [m for m in fake_api.sent if str(m["chat_id"]) == "-1009876543210"]
    assert "Jl. Kemang Raya — Kel. Bangka, Kec. Mampang Prapatan, Jakarta Selatan" in card["text"]
    [ack] = texts(fake_api, CITIZEN)
    assert "diteruskan ke tim triase kota" in ack and "Dinas Bina Marga" in ack


async def test_a_category_confirmed_after_an_officer_reassigned_it_does_not_undo_that(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    configure(confidence_threshold=1.0)  # the acknowledgement asks "which category?"
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"{REPORT}, {ANSWER}"))
    ack = sent_to(fake_api, CITIZEN)[0]
    [card] = sent_to(fake_api, OFFICER)
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=card["message"]["message_id"], text="alihkan binamarga bukan_kewenangan"))
    assert tickets()[0].agency == "binamarga"
    assert any(e["message_id"] == ack["message"]["message_id"] for e in fake_api.edits)  # the question ended
    # A press that was already on its way: the same category confirmed keeps the agency the officer chose.
    await deliver(fake_api, telegram_config, redis_conn,
                  press(CITIZEN, ack, f"/kategori {tickets()[0].public_id} flood"))
    assert tickets()[0].agency == "binamarga"


async def test_a_report_the_water_guard_flags_is_asked_about_once_its_place_is_known(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nlp.classify import Prediction

    class WaterGuarded:
        """A confident non-water category the water guard flags (flood and drainage together are plausible)."""

        threshold = 0.5  # as a loaded Classifier has resolved it

        def predict(self, texts: list[str]) -> list[Prediction]:
            return [Prediction("garbage", 0.99, True, "model", ("flood", "drainage")) for _ in texts]

    monkeypatch.setattr(context, "classifier", WaterGuarded)
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="Sampah nyumbat, air udah sebetis depan rumah"))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=ANSWER))
    asked = [m for m in sent_to(fake_api, CITIZEN) if "Benarkah kategorinya" in body(m)]
    assert asked, "a report that may be a flood is asked about, not filed elsewhere in silence"
    buttons = [b["callback_data"] for row in asked[-1]["reply_markup"]["inline_keyboard"] for b in row]
    assert any("flood" in value for value in buttons)
