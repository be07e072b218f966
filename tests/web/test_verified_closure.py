"""Verified closure end to end, on SQLite and PostgreSQL, with the real intake, pipeline, RQ worker and dashboard
over HTTP: an officer's "done" photo taken 2 km from the ticket's point flags it "foto tidak di lokasi" (the citizen
is told as always, the photo kept has no EXIF); the citizen's own photo sent back by an officer in Telegram flags it
"foto sama dengan laporan lain"; a photo at the place flags nothing; one Telegram will not give leaves a note."""
from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator

import pytest
import redis
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue, SimpleWorker
from sqlalchemy import select

from ingest.intake import CROP_QUEUE, INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Location, Media, Message, Sender
from router import closure
from store import db, media
from store.models import MediaBlob, Outbox, PhotoCheck, Ticket, TicketFlag
from tests.fakes.telegram_api import FakeBotAPI
from tests.photos import has_exif, jpeg
from tests.web.conftest import CITIZEN, csrf_of, login, officer_with_login
from web import site, stats
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

POINT = (-6.2245, 106.8660)  # Jl. Jatinegara Barat, where the citizen shared their location
TWO_KM = (-6.2065, 106.8660)
OFFICER_TG = "7101"
_keys = itertools.count(1)


def now_exif(hours: float = 0) -> str:
    """An EXIF time stamp, `hours` from now, on Jakarta's clock (as a phone there writes it)."""
    return (datetime.now(timezone.utc) + timedelta(hours=7 + hours)).strftime("%Y:%m:%d %H:%M:%S")


def work(conn: redis.Redis) -> None:
    """Run a worker until the intake, outbox and CROP queues (the photo checks among them) are empty."""
    SimpleWorker([Queue(name, connection=conn) for name in (OUTBOX_QUEUE, INTAKE_QUEUE, CROP_QUEUE)],
                 connection=conn).work(burst=True, logging_level="WARNING")


def send(conn: redis.Redis, sender: Sender, text: str, *, photo: str | None = None, location: tuple[float, float] | None = None,
         command: str | None = None) -> None:
    msg = Message(channel="telegram", key=f"tg-{next(_keys)}", sender=sender,
                  address=Address(channel="telegram", chat_id=sender.id), text=text, command=command,
                  location=Location(lat=location[0], lon=location[1]) if location else None,
                  media=[Media(kind="photo", file_id=photo)] if photo else [], received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)


def flood() -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket).where(Ticket.category == "flood")).one()


def flags() -> list[tuple[str, str]]:
    with db.session() as s:
        return [(f.code, f.detail) for f in s.scalars(select(TicketFlag).order_by(TicketFlag.id))]


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    # Budi covers water (dsda) in Jakarta Timur, in Telegram and on the dashboard; Sari is his supervisor.
    officer_with_login("budi", "Budi PPSU", OFFICER_TG)
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=10 * 1024 * 1024), site.Site(session_hours=1))
    async with TestClient(TestServer(app)) as c:
        yield c


async def resolve_on_dashboard(client: TestClient, conn: redis.Redis, photo: bytes) -> str:
    """Budi logs in, takes the flood ticket and resolves it with `photo`; the jobs run; → the ticket's page."""
    await login(client)
    path = f"/crop/tickets/{flood().public_id}"
    csrf = await csrf_of(client, path)
    await client.post(f"{path}/act", data={"action": "take", "csrf": csrf})
    body = FormData()
    for key, value in {"action": "done", "note": "air sudah surut", "csrf": csrf}.items():
        body.add_field(key, value)
    body.add_field("photo", photo, filename="hasil.jpg", content_type="image/jpeg")
    response = await client.post(f"{path}/act", data=body)
    assert response.status == 200 and flood().status == "resolved"  # never held up by the check
    work(conn)
    return await (await client.get(path)).text()


async def test_a_done_photo_taken_2_km_away_flags_the_ticket(client: TestClient, redis_conn: redis.Redis,
                                                             fake_api: FakeBotAPI) -> None:
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT)
    photo = jpeg(1, gps=TWO_KM, taken=now_exif())
    page = await resolve_on_dashboard(client, redis_conn, photo)
    t = flood()

    assert flags() == [("off_site", "diambil 2,0 km dari titik laporan (batas 300 m)")]
    section = re.search(r'<section id="photo-checks".*?</section>', page, re.S)
    assert section and "foto tidak di lokasi" in section.group(0) and "2,0 km" in section.group(0)
    queue = await (await client.get("/crop?status=all")).text()
    row = next(r for r in re.findall(r"<tr>.*?</tr>", queue, re.S) if t.public_id in r)
    assert 'class="flag"' in row and "foto tidak di lokasi" in row

    # The citizen's flow is as it always was: told it is resolved, with the photo, and asked whether it is fixed.
    with db.session() as s:
        update = s.scalars(select(Outbox).where(Outbox.ticket_id == t.id, Outbox.chat_key.contains(CITIZEN.id))
                           .order_by(Outbox.id.desc())).first()
        assert update is not None and update.status == "sent" and "surut" in update.text
        assert update.extras["photo"] == t.resolution_photo_file_id and update.extras["buttons"]
        # The photo kept (and shown, and sent) has no EXIF; its check kept only the hash.
        kept = s.scalars(select(MediaBlob)).one()
        assert t.resolution_photo_file_id == media.PREFIX + kept.sha256 and not has_exif(kept.data)
        [check] = s.scalars(select(PhotoCheck))
        assert (check.role, check.state, check.exif_read) == ("resolution", "checked", True) and check.phash
    assert fake_api.uploads and not has_exif(fake_api.uploads[-1])
    shown = await client.get(f"/crop/tickets/{t.public_id}/photo/resolution")
    assert shown.status == 200 and not has_exif(await shown.read())

    # The supervisors' figures count it.
    with db.session() as s:
        counts = stats.flag_counts(s, t.created_at - timedelta(days=1), datetime.now(timezone.utc) + timedelta(hours=1))
    assert (counts.checked, counts.flagged, counts.by_reason) == (1, 1, {"foto tidak di lokasi": 1})
    await client.post("/logout", data={"csrf": await csrf_of(client, "/crop")})
    await login(client, username="sari")
    figures = await (await client.get("/crop/stats")).text()
    assert re.search(r"<td>foto tidak di lokasi</td><td>1</td>", figures)


async def test_a_clean_photo_flags_nothing(client: TestClient, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT)
    page = await resolve_on_dashboard(client, redis_conn, jpeg(2, gps=(-6.2250, 106.8662), taken=now_exif()))
    assert flags() == [] and 'id="photo-checks"' not in page
    with db.session() as s:
        assert [c.state for c in s.scalars(select(PhotoCheck))] == ["checked"]


async def test_a_photo_taken_before_the_report_and_without_gps_is_flagged_and_noted(
        client: TestClient, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT)
    page = await resolve_on_dashboard(client, redis_conn, jpeg(3, taken=now_exif(hours=-48)))
    assert [code for code, _ in flags()] == ["before_report"]
    assert "foto diambil sebelum laporan dibuat" in page and "foto tanpa lokasi GPS (EXIF)" in page


async def test_the_citizen_s_photo_sent_back_in_telegram_is_flagged_as_the_same(
        client: TestClient, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    citizen_photo = jpeg(4, gps=POINT, taken=now_exif())
    fake_api.files["AgAC-citizen"] = citizen_photo
    # What Telegram makes of the same picture sent again by the officer: re-compressed, without EXIF.
    fake_api.files["AgAC-officer"] = jpeg(4, quality=60)
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT, photo="AgAC-citizen")
    t = flood()
    officer = Sender(id=OFFICER_TG, name="Budi PPSU")
    send(redis_conn, officer, f"/selesai {t.public_id}", command="/selesai", photo="AgAC-officer")
    assert flood().status == "resolved"
    assert [(code, detail.split(" (")[0]) for code, detail in flags()] == [
        ("same_photo", "sama dengan foto pelapor tiket ini")]
    with db.session() as s:
        checks = {c.role: c for c in s.scalars(select(PhotoCheck))}
        assert checks["report"].photo == t.photo_file_id and checks["report"].phash
        assert "foto tanpa waktu dan lokasi GPS (EXIF)" in (checks["resolution"].note or "")
    await login(client, username="sari")
    page = await (await client.get(f"/crop/tickets/{t.public_id}")).text()
    assert "foto sama dengan laporan lain" in page and "sama dengan foto pelapor tiket ini" in page
    # The citizen's photo, fetched from Telegram for the page, is shown without its GPS position.
    shown = await client.get(f"/crop/tickets/{t.public_id}/photo/report")
    assert shown.status == 200 and has_exif(citizen_photo) and not has_exif(await shown.read())

    # A second ticket closed with that same picture is flagged too: it matches an earlier "done" photo.
    with db.session() as s:
        s.get(Ticket, t.id).category = "garbage"  # type: ignore[union-attr]  # so that the next flood is its own
    fake_api.files["AgAC-other"] = jpeg(5, gps=TWO_KM)
    send(redis_conn, CITIZEN, "banjir lagi di jl jatinegara barat", location=POINT, photo="AgAC-other")
    fake_api.files["AgAC-again"] = jpeg(4, quality=75)
    send(redis_conn, officer, f"/selesai {flood().public_id}", command="/selesai", photo="AgAC-again")
    last = flags()[-1]
    assert last[0] == "same_photo" and t.public_id in last[1]


async def test_a_photo_telegram_will_not_give_leaves_a_note_not_an_error(
        client: TestClient, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT)
    fake_api.fail_next("getFile", 400, {"ok": False, "error_code": 400, "description": "Bad Request: file is too big"})
    send(redis_conn, Sender(id=OFFICER_TG, name="Budi PPSU"), f"/selesai {flood().public_id}", command="/selesai",
         photo="AgAC-lost")
    assert flood().status == "resolved" and flags() == []
    with db.session() as s:
        [check] = s.scalars(select(PhotoCheck))
    assert check.state == "unavailable" and "foto tidak bisa diambil (telegram tidak memberikannya)" in (check.note or "")
    # Nothing is left failed in RQ: the job finished, with its note.
    assert Queue(CROP_QUEUE, connection=redis_conn).failed_job_registry.count == 0


def test_a_check_whose_job_was_lost_is_enqueued_again_by_the_sweep(hub: str, redis_conn: redis.Redis) -> None:
    send(redis_conn, CITIZEN, "banjir 50 cm di jl jatinegara barat", location=POINT)
    with db.session() as s:
        t = s.scalars(select(Ticket)).one()
        s.add_all([PhotoCheck(ticket_id=t.id, role="resolution", photo="telegram:file::lost", state="pending",
                              created_at=datetime.now(timezone.utc) - timedelta(minutes=30)),
                   PhotoCheck(ticket_id=t.id, role="resolution", photo="telegram:file::old", state="pending",
                              created_at=datetime.now(timezone.utc) - timedelta(days=2))])
    assert closure.requeue() == 1
    assert Queue(CROP_QUEUE, connection=redis_conn).count == 1
    with db.session() as s:
        assert sorted(c.state for c in s.scalars(select(PhotoCheck))) == ["pending", "unavailable"]
