"""Learning from use, over the fake Bot API with real Redis + RQ, SQLite and PostgreSQL: a category a citizen
confirms or picks becomes a stored example; an officer's "kategori banjir" reply to a card re-categorises the
ticket, re-routes it, records it, stores the example and tells the citizen."""
from __future__ import annotations

import redis
from sqlalchemy import select

from router import context
from router.context import RouterConfig
from store import db
from store import officers as roster
from store.models import Example, TicketEvent
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import (CITIZEN, OFFICER, POINT, body, crop, deliver, message, press,
                                                  sent_to, ticket)

__all__ = ["crop"]  # the module's autouse fixture: routing defaults and Budi, a Duren Sawit SDA officer
DLH = {"id": 66200001, "is_bot": False, "first_name": "Andi", "language_code": "id"}


def examples() -> list[Example]:
    with db.session() as s:
        return list(s.scalars(select(Example).order_by(Example.id)))


def _unsure(conn: redis.Redis) -> None:
    # A threshold this high makes every model prediction uncertain, so the citizen is asked.
    context.configure(RouterConfig(retry_intervals=[1, 2], confidence_threshold=0.999,
                                   routing=context.config().routing), conn)


def _dlh_crew() -> None:
    with db.session() as s:
        roster.add(s, {"name": "Andi (DLH)", "telegram_id": str(DLH["id"]), "role": "petugas", "areas": ["31.75.07"],
                       "agencies": ["dlh"]})


async def test_a_category_the_citizen_confirms_is_stored_as_an_example(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    _unsure(redis_conn)
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text="air got meluap ke jalan, bau"))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, location=POINT))
    t = ticket()
    asked = sent_to(fake_api, CITIZEN)[1]
    assert examples() == []
    await deliver(fake_api, telegram_config, redis_conn, press(CITIZEN, asked, f"/kategori {t.public_id} {t.category}"))
    [example] = examples()
    assert (example.text, example.category, example.source) == ("air got meluap ke jalan, bau", t.category,
                                                                "citizen_confirmed")
    assert (example.predicted, example.ticket_id, example.officer_id) == (t.category, t.id, None)
    assert example.created_at is not None
    # The same answer again (a second press) is one label, not two.
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"/kategori {t.public_id} {t.category}"))
    assert len(examples()) == 1


async def test_a_category_the_citizen_picks_is_stored_with_the_one_it_corrects(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    _unsure(redis_conn)
    _dlh_crew()
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="air got meluap ke jalan, bau. hub sitirahma_jkt 0812-3456-7890"))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, location=POINT))
    t = ticket()
    first = t.category
    assert first != "garbage"
    asked = sent_to(fake_api, CITIZEN)[1]
    await deliver(fake_api, telegram_config, redis_conn, press(CITIZEN, asked, f"/kategori {t.public_id} garbage"))
    [example] = examples()
    assert (example.category, example.source, example.predicted) == ("garbage", "citizen_picked", first)
    # No personal data: the phone and the citizen's username are masked.
    assert "0812" not in example.text and "sitirahma" not in example.text and "air got meluap" in example.text


async def test_an_officer_recategorises_by_replying_to_the_card(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    _dlh_crew()
    await deliver(fake_api, telegram_config, redis_conn,
                  message(CITIZEN, text="sampah menumpuk di pinggir jalan, baunya menyengat"))
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, location=POINT))
    t = ticket()
    assert (t.category, t.agency, t.status) == ("garbage", "dlh", "assigned")
    [card] = [m for m in fake_api.sent if str(m["chat_id"]) == str(DLH["id"])]
    assert sent_to(fake_api, OFFICER) == []

    # A name that is no category: the officer is told which ones there are, and nothing changes.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(DLH, reply_to=card["message"]["message_id"], text="kategori entahlah"))
    assert ticket().category == "garbage" and "banjir" in body(sent_to(fake_api, DLH)[-1]).lower()

    # It is water over the street, not rubbish: the DLH officer says so on the card.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(DLH, reply_to=card["message"]["message_id"], text="kategori banjir"))
    t = ticket()
    assert (t.category, t.agency, t.status, t.assigned_officer_id) == ("flood", "dsda", "assigned", None)
    [sda_card] = sent_to(fake_api, OFFICER)  # the SDA officer of the area gets the card, as the dispatch sends it
    assert t.public_id in sda_card["text"]
    told = [body(m) for m in sent_to(fake_api, CITIZEN)]
    assert any(f"Laporan {t.public_id} dipindahkan ke kategori Banjir" in m and "Dinas Sumber Daya Air" in m
               for m in told)
    with db.session() as s:
        andi = roster.by_identity(s, "telegram", str(DLH["id"]))
        [event] = s.scalars(select(TicketEvent).where(TicketEvent.kind == "recategorised")).all()
        assert event.actor == f"officer:{andi.id}"
        assert (event.data["from"], event.data["to"], event.data["agency"]) == ("garbage", "flood", "dsda")
    [example] = examples()
    assert (example.category, example.source, example.predicted, example.officer_id) == ("flood", "officer",
                                                                                         "garbage", andi.id)
    assert example.text == "sampah menumpuk di pinggir jalan, baunya menyengat"

    # The reporter cannot undo the officer's category with an answer to an older question.
    await deliver(fake_api, telegram_config, redis_conn, message(CITIZEN, text=f"/kategori {t.public_id} garbage"))
    assert ticket().category == "flood" and "tidak bisa diubah" in body(sent_to(fake_api, CITIZEN)[-1])

    # The DLH officer no longer covers it; the SDA officer can send it on with "/kategori" in English words.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=sda_card["message"]["message_id"], text="/kategori drainage"))
    assert ticket().category == "drainage" and len(examples()) == 2

    # Typed without replying to a card, "/kategori <ticket> <name>" from an officer is the officer's too.
    await deliver(fake_api, telegram_config, redis_conn, message(OFFICER, text=f"/kategori {t.public_id} pohon"))
    assert ticket().category == "tree" and len(examples()) == 3
    assert examples()[-1].source == "officer"
