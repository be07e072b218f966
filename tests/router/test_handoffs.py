"""Handoffs that keep the clock, in chat over the fake Bot API with the real client, Redis + RQ, on SQLite and
PostgreSQL: an officer replies "alihkan <tujuan> <alasan>" to a ticket's card; it goes to another kelurahan's, an
agency's or a utility's officers or chat, the old card is told it left, the citizen is told where and why, the trail
records it for the public, and the SLA clock goes on as it was (no restart, no pause, not a response)."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterator

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from hub.settings import RoutingSettings
from ingest.intake import CROP_QUEUE, OUTBOX_QUEUE
from router import context, handoff, lifecycle, timers
from router.context import RouterConfig
from store import db
from store import officers as roster
from store.models import Ticket, TicketEvent, utcnow
from tests.fakes.telegram_api import FakeBotAPI
from tests.router.test_crop_conversations import (CITIZEN, OFFICER, STRANGER, body, deliver, message,
                                                  report_and_share_location, sent_to, ticket)

pytestmark = pytest.mark.usefixtures("hub")

# Cipinang Muara (Jatinegara, 31.75.03.1006): its PPSU officer for SDA work and its lurah.
MUARA = {"id": 66300001, "is_bot": False, "first_name": "Rina", "language_code": "id"}
MUARA_LURAH = {"id": 66300002, "is_bot": False, "first_name": "Lurah", "language_code": "id"}
DLH = {"id": 66200001, "is_bot": False, "first_name": "Andi", "language_code": "id"}
PLN_GROUP = "-1005550001"  # PLN's liaison group chat (routing.utilities.pln.telegram_chat_id)


@pytest.fixture(autouse=True)
def crop(hub: str, redis_conn: redis.Redis) -> None:
    """Routing defaults with PLN's group chat; Budi covers SDA work in Duren Sawit, Rina in Cipinang Muara."""
    settings = RoutingSettings(utilities={"pln": {"name": "PLN (listrik)", "telegram_chat_id": PLN_GROUP},
                                          "pam_jaya": {"name": "PAM Jaya (air bersih)"}})
    context.configure(RouterConfig(retry_intervals=[1, 2],
                                   routing=settings.model_dump(mode="json", exclude={"officers"})), redis_conn)
    with db.session() as s:
        roster.add(s, {"name": "Budi (PPSU)", "telegram_id": str(OFFICER["id"]), "role": "petugas",
                       "areas": ["31.75.07"], "agencies": ["dsda"]})
        roster.add(s, {"name": "Rina (PPSU)", "telegram_id": str(MUARA["id"]), "role": "petugas",
                       "areas": ["31.75.03.1006"], "agencies": ["dsda"]})
        roster.add(s, {"name": "Lurah Cipinang Muara", "telegram_id": str(MUARA_LURAH["id"]), "role": "lurah",
                       "areas": ["31.75.03.1006"], "agencies": []})


class Clock:
    """The hub's clock, moved by the test; the SLA checks RQ holds, run as its scheduler would."""

    def __init__(self, conn: redis.Redis) -> None:
        self.start = self.now = utcnow()
        self.conn = conn
        self.queue = Queue(CROP_QUEUE, connection=conn)
        self.registry = ScheduledJobRegistry(queue=self.queue)

    def at(self, hours: float) -> None:
        self.now = self.start + timedelta(hours=hours)

    def scheduled(self, ticket_id: int) -> list[float]:
        """Hours after the start at which the ticket's SLA checks are scheduled."""
        return sorted((self.registry.get_scheduled_time(j) - self.start).total_seconds() / 3600
                      for j in self.registry.get_job_ids() if j.startswith(f"crophub-sla-{ticket_id}-"))

    def run_due(self, ticket_id: int) -> None:
        for job_id in self.registry.get_job_ids():
            if job_id.startswith(f"crophub-sla-{ticket_id}-") and self.registry.get_scheduled_time(job_id) <= self.now:
                self.registry.remove(job_id)
                self.queue.enqueue_job(Job.fetch(job_id, connection=self.conn))
        SimpleWorker([self.queue, Queue(OUTBOX_QUEUE, connection=self.conn)], connection=self.conn).work(
            burst=True, logging_level="WARNING")


@pytest.fixture
def clock(redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    found = Clock(redis_conn)
    for module in (timers, lifecycle, handoff):
        monkeypatch.setattr(module, "_now" if module is timers else "utcnow", lambda: found.now)
    yield found


def events(kind: str | None = None) -> list[TicketEvent]:
    with db.session() as s:
        stmt = select(TicketEvent).order_by(TicketEvent.id)
        return [e for e in s.scalars(stmt) if kind is None or e.kind == kind]


def as_naive(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=None) if at is not None else None  # SQLite gives back naive UTC


async def test_an_officer_hands_a_ticket_to_another_kelurahan_and_the_sla_clock_keeps_running(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis, clock: Clock
) -> None:
    card = await report_and_share_location(fake_api, telegram_config, redis_conn)
    t = ticket()
    started = t.sla_started_at
    assert started is not None and clock.scheduled(t.id) == pytest.approx([2], abs=0.01)  # flood: respond in 2 h
    told_before = len(sent_to(fake_api, CITIZEN))

    clock.at(1)  # an hour on, Budi finds it is across the border: Cipinang Muara's
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=card["message"]["message_id"],
                          text="alihkan kel. cipinang muara bukan_wilayah, got itu milik RW 05 sebelah"))
    t = ticket()
    assert (t.holder_area, t.agency, t.status, t.assigned_officer_id) == ("31.75.03.1006", "dsda", "assigned", None)
    # The clock: started when Budi got it, never restarted nor paused, and the handoff was no response.
    assert as_naive(t.sla_started_at) == as_naive(started) and t.sla_paused_at is None and t.sla_paused_seconds == 0
    assert t.first_response_at is None
    assert clock.scheduled(t.id) == pytest.approx([2], abs=0.01)  # the response check is still due at 2 h
    assert t.kelurahan_kode == "31.75.07.1002"  # the place stays as reported

    # Rina gets the card, saying where it came from and why; Budi's card is told it left him.
    [new_card] = sent_to(fake_api, MUARA)
    assert t.public_id in new_card["text"] and "Dialihkan dari Dinas Sumber Daya Air" in new_card["text"]
    assert "bukan wilayah kami" in new_card["text"] and "milik RW 05" in new_card["text"]
    budi = [body(m) for m in sent_to(fake_api, OFFICER)[1:]]
    assert any("dialihkan ke Kelurahan Cipinang Muara (bukan wilayah kami)" in b and "tidak berlaku lagi" in b
               for b in budi), budi
    assert any(f"Tiket {t.public_id} dialihkan ke Kelurahan Cipinang Muara" in b for b in budi), budi
    assert any(e["message_id"] == card["message"]["message_id"] for e in fake_api.edits)  # its buttons go

    # The citizen hears it once, in words, and not as "sent to the officers" again.
    news = [body(m) for m in sent_to(fake_api, CITIZEN)[told_before:]]
    assert news == [f"Tiket {t.public_id}: laporan Anda dialihkan ke Kelurahan Cipinang Muara "
                    "(alasan: bukan wilayah kami). Batas waktu penanganannya tidak berubah."]

    # The trail: a handoff event the public page can show (no person named), then the status changes.
    [moved] = events(handoff.KIND)
    assert moved.data["note"] == "Dialihkan ke Kelurahan Cipinang Muara: bukan wilayah kami"
    assert (moved.data["to_kind"], moved.data["to"], moved.data["reason"]) == ("area", "31.75.03.1006", "bukan_wilayah")
    assert moved.data["words"] == "got itu milik RW 05 sebelah" and "Budi" not in moved.data["note"]
    after = [(e.kind, (e.data or {}).get("to")) for e in events() if e.id >= moved.id]
    assert after == [("handoff", "31.75.03.1006"), ("status", "open"), ("status", "assigned")]

    # Budi no longer covers it; Rina does.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, reply_to=card["message"]["message_id"], text="ambil"))
    assert "tidak terdaftar" in body(sent_to(fake_api, OFFICER)[-1]) and ticket().status == "assigned"

    # At 2 h the response target is missed: Rina is reminded and Cipinang Muara's lurah gets it.
    clock.at(2.1)
    clock.run_due(t.id)
    assert "Pengingat" in body(sent_to(fake_api, MUARA)[-1])
    assert "Eskalasi ke Anda (lurah)" in body(sent_to(fake_api, MUARA_LURAH)[-1])
    await deliver(fake_api, telegram_config, redis_conn,
                  message(MUARA, reply_to=new_card["message"]["message_id"], text="ambil"))
    assert ticket().status == "taken" and ticket().first_response_at is not None


async def test_handoffs_to_an_agency_and_to_a_utility(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    with db.session() as s:
        roster.add(s, {"name": "Andi (DLH)", "telegram_id": str(DLH["id"]), "role": "petugas", "areas": ["31.75"],
                       "agencies": ["dlh"]})
    await report_and_share_location(fake_api, telegram_config, redis_conn)
    public_id = ticket().public_id

    # To another agency, by the ticket's number and the reason's words.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(OFFICER, text=f"/alihkan {public_id} dlh bukan kewenangan kami"))
    t = ticket()
    assert (t.agency, t.status, t.holder_area) == ("dlh", "assigned", None)
    [dlh_card] = sent_to(fake_api, DLH)
    assert "Dialihkan dari Dinas Sumber Daya Air: bukan kewenangan kami" in dlh_card["text"]
    assert "dialihkan ke Dinas Lingkungan Hidup (alasan: bukan kewenangan kami)" in body(sent_to(fake_api, CITIZEN)[-1])

    # Andi finds a PLN cable down in the water: to the utility, whose group chat gets the card.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(DLH, reply_to=dlh_card["message"]["message_id"], text="alihkan PLN aset_utilitas"))
    t = ticket()
    assert (t.agency, t.status) == ("pln", "assigned")
    [pln_card] = [m for m in fake_api.sent if str(m["chat_id"]) == PLN_GROUP]
    assert public_id in pln_card["text"] and "aset milik utilitas" in pln_card["text"]
    assert "dialihkan ke PLN (listrik) (alasan: aset milik utilitas)" in body(sent_to(fake_api, CITIZEN)[-1])
    assert not any(public_id in body(m) and "📋" in body(m) for m in sent_to(fake_api, OFFICER)[1:])
    notes = [e.data["note"] for e in events(handoff.KIND)]
    assert notes == ["Dialihkan ke Dinas Lingkungan Hidup: bukan kewenangan kami",
                     "Dialihkan ke PLN (listrik): aset milik utilitas"]
    with db.session() as s:
        assert handoff.holder_words(s.get(Ticket, t.id)) == "PLN (listrik)"
    # The DLH officer no longer covers it either: it is PLN's now.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(DLH, reply_to=dlh_card["message"]["message_id"], text="ambil"))
    assert "tidak terdaftar" in body(sent_to(fake_api, DLH)[-1])


async def test_an_unknown_target_or_reason_gets_a_polite_answer_listing_the_valid_ones(
    fake_api: FakeBotAPI, telegram_config: dict, redis_conn: redis.Redis
) -> None:
    card = await report_and_share_location(fake_api, telegram_config, redis_conn)
    reply_to = card["message"]["message_id"]
    before = ticket()

    await deliver(fake_api, telegram_config, redis_conn, message(OFFICER, reply_to=reply_to,
                                                                  text="alihkan kelurahan atlantis bukan_wilayah"))
    answer = body(sent_to(fake_api, OFFICER)[-1])
    assert 'Tujuan "kelurahan atlantis" tidak dikenal.' in answer
    assert "dsda, dlh" in answer and "pln (PLN (listrik))" in answer and "kode dinas" in answer
    assert "bukan_wilayah (bukan wilayah kami)" in answer and "salah_lokasi (lokasi salah)" in answer

    await deliver(fake_api, telegram_config, redis_conn, message(OFFICER, reply_to=reply_to,
                                                                  text="alihkan kel. cipinang muara karena jauh"))
    answer = body(sent_to(fake_api, OFFICER)[-1])
    assert answer.startswith("Ke Kelurahan Cipinang Muara: tuliskan juga alasannya")
    assert "bukan_kewenangan (bukan kewenangan kami)" in answer and "aset_utilitas (aset milik utilitas)" in answer

    await deliver(fake_api, telegram_config, redis_conn, message(OFFICER, reply_to=reply_to, text="alihkan"))
    assert "Tujuan: nama atau kode kelurahan/kecamatan" in body(sent_to(fake_api, OFFICER)[-1])

    # Where it already is: nothing to do.
    await deliver(fake_api, telegram_config, redis_conn, message(OFFICER, reply_to=reply_to,
                                                                  text="alihkan dsda bukan_kewenangan"))
    assert "sudah dipegang Dinas Sumber Daya Air" in body(sent_to(fake_api, OFFICER)[-1])

    # A stranger may not hand it anywhere.
    await deliver(fake_api, telegram_config, redis_conn,
                  message(STRANGER, text=f"/alihkan {before.public_id} kel. cipinang muara bukan_wilayah"))
    assert "tidak terdaftar" in body(sent_to(fake_api, STRANGER)[-1])

    after = ticket()
    assert (after.status, after.agency, after.holder_area) == (before.status, before.agency, None)
    assert events(handoff.KIND) == [] and sent_to(fake_api, MUARA) == []


def test_targets_and_reasons_are_read_by_code_or_by_name(hub: str) -> None:
    read = handoff.parse("kel. cipinang muara bukan_wilayah sudah dicek")
    assert ([(t.kind, t.code, t.name) for t in read.targets], read.reason, read.words) == (
        [("area", "31.75.03.1006", "Kelurahan Cipinang Muara")], "bukan_wilayah", "sudah dicek")
    assert [t.code for t in handoff.parse("Kecamatan Jatinegara bukan wilayah kami").targets] == ["31.75.03"]
    assert handoff.parse("31.75.03.1006 salah_lokasi").targets[0].name == "Kelurahan Cipinang Muara"
    assert [(t.kind, t.code) for t in handoff.parse("pam jaya aset milik utilitas").targets] == [("utility", "pam_jaya")]
    assert [(t.kind, t.code) for t in handoff.parse("Dinas Bina Marga not our responsibility").targets] == [
        ("agency", "binamarga")]
    assert handoff.parse("Dinas Bina Marga not our responsibility").reason == "bukan_kewenangan"
    # "Kebon Jeruk" is a kecamatan and a kelurahan: the kelurahan, unless "kec." says otherwise.
    assert [t.code for t in handoff.parse("kebon jeruk bukan_wilayah").targets] == ["31.73.05.1001"]
    assert [t.code for t in handoff.parse("kec kebon jeruk bukan_wilayah").targets] == ["31.73.05"]
    assert handoff.parse("31.75 bukan_wilayah").targets == ()  # a whole kota is no target
    assert handoff.parse("pln").reason is None and handoff.parse("pln").targets[0].code == "pln"



def test_the_utilities_and_reasons_a_config_names_are_checked() -> None:
    from pydantic import ValidationError

    liaison = {"name": "Pak Joko (PLN)", "telegram_id": "66400001", "role": "agency_staff", "agencies": ["pln"]}
    assert RoutingSettings(officers=[liaison]).officers[0].agencies == ["pln"]  # a utility's liaison
    with pytest.raises(ValidationError, match="agencies not defined.*'pdam'"):
        RoutingSettings(officers=[{**liaison, "agencies": ["pdam"]}])
    with pytest.raises(ValidationError, match="both an agency and a utility.*dlh"):
        RoutingSettings(utilities={"dlh": {"name": "Dinas?"}})
    with pytest.raises(ValidationError, match="lower-case words.*Bukan Wilayah"):
        RoutingSettings(handoff_reasons={"Bukan Wilayah": {"id": "bukan wilayah kami"}})
    with pytest.raises(ValidationError, match="at least 1"):
        RoutingSettings(handoff_reasons={})


def test_a_name_two_areas_share_is_asked_about(hub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from nlp.gazetteer import gazetteer

    # No two kelurahan share a name in today's gazetteer; a future one may (as other cities' do).
    muara = gazetteer().areas["31.75.03.1006"]
    twin = replace(muara, kode="31.75.07.1099", kecamatan_kode="31.75.07")
    monkeypatch.setattr(handoff, "_areas_named", lambda: {"cipinang muara": [muara, twin]})
    asked = handoff.parse("kel. cipinang muara bukan_wilayah")
    assert [t.code for t in asked.targets] == ["31.75.03.1006", "31.75.07.1099"]
    said = handoff.hand_off(None, None, None, "kel. cipinang muara bukan_wilayah", None, "id",  # type: ignore[arg-type]
                            lambda t, p: []).said
    assert said is not None and said.startswith('"kel. cipinang muara" ada lebih dari satu: Kel. Cipinang Muara, '
                                                "Kec. Jatinegara, Jakarta Timur (31.75.03.1006); ")
    assert said.endswith("(31.75.07.1099). Tulis kodenya.")
