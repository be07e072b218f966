"""The officers' dashboard over real HTTP, on SQLite and PostgreSQL: a login guards it, forms carry a CSRF token,
the queue filters, a ticket's page shows its timeline (report texts as text), and actions follow the chat's rules
and tell the citizen."""
from __future__ import annotations

import asyncio
import re
from datetime import datetime, timezone
from hashlib import sha256
from html import unescape
from typing import AsyncIterator

import pytest
import redis
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address, Location, Media, Message
from store import db, media, ops
from store.models import Officer, Outbox, Ticket
from tests.fakes.telegram_api import FakeBotAPI
from tests.web.conftest import CITIZEN, PASSWORD, csrf_of, login, officer_with_login, report, ticket, work
from web import auth, open311, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

OPEN311_KEY = "k3y-portal-0123456789"
AREA_CODE = re.compile(r"\b31\.\d\d")  # a Kepmendagri code: a value in forms and URLs, never what a person reads


def visible(html: str) -> str:
    """The text a person reads on a page: no tags, so no attribute values (form values, links), entities decoded."""
    return unescape(re.sub(r"<[^>]*>", " ", html))


def times(html: str) -> list[str]:
    """Every time the page shows (the text of its <time> elements)."""
    return [unescape(t).strip() for t in re.findall(r"<time[^>]*>(.*?)</time>", html, re.S)]


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    # Budi covers water (dsda) in Jakarta Timur; Sari is a supervisor.
    officer_with_login("budi", "Budi PPSU", "7101")
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=10 * 1024 * 1024),
               site.Site(session_hours=1, open311=open311.Config("jakarta.go.id", {OPEN311_KEY: "portal"})))
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", "banjir 50 cm <script>alert(1)</script> di jl jatinegara barat", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


async def test_everything_under_crop_needs_a_login(client: TestClient) -> None:
    for path in ("/crop", "/crop/tickets/JKT-2026-000001", "/crop?status=all"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].replace("%2F", "/").startswith("/login?next=/crop")
    response = await client.post("/crop/tickets/JKT-2026-000001/act", data={"action": "take"}, allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/")).status == 200  # the public page is public


async def test_a_login_needs_the_right_password_and_its_form_token(client: TestClient) -> None:
    assert await login(client, password="salah-sekali-123") == 401
    missing = await client.post("/login", data={"username": "budi", "password": PASSWORD}, allow_redirects=False)
    assert missing.status == 403  # no login form token: a cross-site login attempt
    assert await login(client, username="nobody") == 401
    form_page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    ok = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD},
                           allow_redirects=False)
    cookie = next(c for c in ok.headers.getall("Set-Cookie") if c.startswith(auth.COOKIE + "="))
    assert ok.status == 302 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    response = await client.get("/crop", allow_redirects=False)
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert "Budi PPSU" in await response.text()


async def test_the_next_page_after_login_is_a_dashboard_page_only(client: TestClient) -> None:
    form_page = await (await client.get("/login?next=https://evil.example/")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD,
                                                  "next": "//evil.example/"}, allow_redirects=False)
    assert response.headers["Location"] == "/crop"
    form_page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD,
                                                  "next": "/crop?category=flood"}, allow_redirects=False)
    assert response.headers["Location"] == "/crop?category=flood"


@pytest.mark.usefixtures("reports")
async def test_the_queue_filters_and_a_ticket_shows_its_text_as_text(client: TestClient) -> None:
    await login(client)
    html = await (await client.get("/crop")).text()
    flood, garbage = ticket("flood"), ticket("garbage")
    assert flood.public_id in html and garbage.public_id in html
    only = await (await client.get("/crop?category=garbage")).text()
    assert garbage.public_id in only and flood.public_id not in only
    area = await (await client.get("/crop?area=31.75.03")).text()  # Jatinegara
    assert flood.public_id in area and garbage.public_id not in area
    assert flood.public_id not in await (await client.get("/crop?status=closed")).text()
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "1 warga lewat telegram" in page and "Laporan masuk" in page
    assert (await client.get("/crop/tickets/JKT-2026-999999")).status == 404


@pytest.mark.usefixtures("reports")
async def test_actions_follow_the_chat_rules_and_tell_the_citizen(client: TestClient) -> None:
    await login(client)
    flood, garbage = ticket("flood"), ticket("garbage")
    path = f"/crop/tickets/{flood.public_id}"
    refused = await client.post(f"{path}/act", data={"action": "take", "csrf": "forged"}, allow_redirects=False)
    assert refused.status == 403 and ticket("flood").status == flood.status
    csrf = await csrf_of(client, path)
    page = await (await client.post(f"{path}/act", data={"action": "take", "csrf": csrf})).text()
    assert ticket("flood").status == "taken"
    assert f"Tiket {flood.public_id}: diambil petugas." in page  # the status as officers say it
    assert "Status: baru, belum diteruskan → diambil petugas" in visible(page)
    page = await (await client.post(f"{path}/act", data={"action": "progress", "note": "pompa dikirim",
                                                         "csrf": csrf})).text()
    assert ticket("flood").status == "in_progress" and "pompa dikirim" in page
    # The citizen hears of each change on their own channel, as when the officer acts in chat.
    with db.session() as s:
        updates = [o.text for o in s.scalars(select(Outbox).where(Outbox.ticket_id == flood.id,
                                                                   Outbox.channel == "telegram"))]
    assert any("pompa dikirim" in u for u in updates)
    # Garbage is the environment agency's: Budi (water) may not act on it, and the attempt is recorded.
    refused = await client.post(f"/crop/tickets/{garbage.public_id}/act", data={"action": "take", "csrf": csrf})
    assert refused.status == 422 and ticket("garbage").status == garbage.status
    assert "Tindakan ditolak: petugas tidak berwenang atas tiket ini" in visible(await refused.text())
    reject = await (await client.post(f"{path}/act", data={"action": "reject", "csrf": csrf})).text()
    assert ticket("flood").status == "in_progress" and "alasan" in reject.lower()


async def test_logging_out_ends_the_session(client: TestClient) -> None:
    await login(client)
    csrf = await csrf_of(client, "/crop")
    await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert (await client.get("/crop", allow_redirects=False)).status == 302


# A tiny but real JPEG (SOI, APP0/JFIF, EOI): the store knows photos by their first bytes.
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"crophub" * 20 + b"\xff\xd9"


def photo_report(conn: redis.Redis) -> None:
    """A citizen's Telegram report with a photo (a Telegram file id) and a shared point."""
    msg = Message(channel="telegram", key="tg-photo", sender=CITIZEN,
                  address=Address(channel="telegram", chat_id=CITIZEN.id),
                  text="banjir 40 cm di jl jatinegara barat", location=Location(lat=-6.2245, lon=106.8660),
                  media=[Media(kind="photo", file_id="AgACAgUAAxkBAAIB-citizen")],
                  received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)


async def test_done_with_a_photo_resolves_and_the_citizen_gets_the_photo(
        client: TestClient, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    photo_report(redis_conn)
    await login(client)
    flood = ticket("flood")
    path = f"/crop/tickets/{flood.public_id}"
    # Before: the citizen's photo, fetched from Telegram through the bot (getFile, then the file itself).
    before = await client.get(f"{path}/photo/report")
    assert before.status == 200 and before.content_type == "image/jpeg"
    assert await before.read() == b"\xff\xd8\xff\xd9"  # the fake Bot API's file
    assert before.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get(f"{path}/photo/resolution")).status == 404  # nothing yet
    csrf = await csrf_of(client, path)

    def form(data: bytes, name: str = "hasil.jpg") -> FormData:
        body = FormData()
        for key, value in {"action": "done", "note": "air sudah surut", "csrf": csrf}.items():
            body.add_field(key, value)
        body.add_field("photo", data, filename=name, content_type="image/jpeg")
        return body

    # "Done" needs a photo, and a real one.
    page = await (await client.post(f"{path}/act", data={"action": "done", "csrf": csrf})).text()
    assert ticket("flood").status == flood.status and "pilih foto hasil" in page.lower()
    page = await (await client.post(f"{path}/act", data=form(b"<html>not a photo</html>", "x.jpg"))).text()
    assert ticket("flood").status == flood.status and "Foto tidak diterima: not a photo" in page
    page = await (await client.post(f"{path}/act", data=form(JPEG))).text()
    resolved = ticket("flood")
    assert resolved.status == "resolved" and resolved.resolution_photo_file_id == media.PREFIX + sha256(JPEG).hexdigest()
    assert 'id="photo-report"' in page and 'id="photo-resolution"' in page
    # The officer reads the status about the reporter, never the citizen's "waiting for your confirmation".
    assert "menunggu konfirmasi pelapor" in page and "Anda" not in visible(page)
    assert 'form method="post" action="/crop/tickets/' not in page  # resolved: the reporter's turn, no action
    after = await client.get(f"{path}/photo/resolution")
    assert after.status == 200 and after.content_type == "image/jpeg" and await after.read() == JPEG
    # The citizen's update carries the photo; Telegram is sent its bytes (a file id of ours means nothing there).
    work(redis_conn)
    assert JPEG in fake_api.uploads
    update = next(m for m in fake_api.sent if m["chat_id"] == int(CITIZEN.id) and "surut" in (m.get("caption") or ""))
    assert update["photo"][0]["file_id"] == "uploaded-photo"
    assert (await client.get(f"{path}/photo/other")).status == 404


async def test_photos_are_for_logged_in_officers_only(client: TestClient, redis_conn: redis.Redis) -> None:
    photo_report(redis_conn)
    response = await client.get(f"/crop/tickets/{ticket('flood').public_id}/photo/report", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"].startswith("/login")


async def test_a_request_posted_through_open311_is_in_the_queue(client: TestClient, redis_conn: redis.Redis) -> None:
    form = {"api_key": OPEN311_KEY, "service_code": "flood", "lat": "-6.2245", "long": "106.8660",
            "description": "Genangan air 30 cm menutup jalan", "email": "warga@example.com"}
    assert (await client.post("/open311/v2/requests.json", data=form)).status == 201
    work(redis_conn)
    filed = ticket("flood")
    await login(client)
    queue = await (await client.get("/crop?category=flood")).text()
    assert filed.public_id in queue and "open311" in queue
    page = await (await client.get(f"/crop/tickets/{filed.public_id}")).text()
    assert "Genangan air 30 cm menutup jalan" in page and "1 warga lewat open311" in page


async def test_guessing_passwords_is_stopped(client: TestClient) -> None:
    for _ in range(auth.FAILURES_PER_USER):
        assert await login(client, password="tebak-tebakan-1") == 401
    # Locked for the window: even the right password is refused now, and another user is not locked.
    assert await login(client) == 429
    assert await login(client, username="sari") == 302


async def test_guesses_sent_at_once_are_counted_too(client: TestClient) -> None:
    form_page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]

    async def guess(n: int) -> int:
        response = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": f"tebak-{n:06d}"},
                                     allow_redirects=False)
        return response.status

    statuses = await asyncio.gather(*(guess(n) for n in range(3 * auth.FAILURES_PER_USER)))
    assert statuses.count(401) == auth.FAILURES_PER_USER and statuses.count(429) == 2 * auth.FAILURES_PER_USER


async def test_a_photo_telegram_refuses_does_not_stop_the_update(client: TestClient, redis_conn: redis.Redis,
                                                                 fake_api: FakeBotAPI) -> None:
    photo_report(redis_conn)
    await login(client)
    path = f"/crop/tickets/{ticket('flood').public_id}"
    csrf = await csrf_of(client, path)
    fake_api.fail_next("sendPhoto", 400, {"ok": False, "error_code": 400,
                                          "description": "Bad Request: PHOTO_INVALID_DIMENSIONS"})
    body = FormData()
    for key, value in {"action": "done", "note": "air sudah surut", "csrf": csrf}.items():
        body.add_field(key, value)
    body.add_field("photo", JPEG, filename="panjang.jpg", content_type="image/jpeg")
    await client.post(f"{path}/act", data=body)
    work(redis_conn)
    update = [m for m in fake_api.sent if m["chat_id"] == int(CITIZEN.id)][-1]
    assert "surut" in update["text"] and "photo" not in update  # the words went, without the picture
    with db.session() as s:
        assert {o.status for o in s.scalars(select(Outbox).where(Outbox.ticket_id == ticket("flood").id))} == {"sent"}


def set_ticket(category: str, **columns: object) -> None:
    """Change the one ticket of `category` directly (a state the test needs, not an action under test)."""
    with db.session() as s:
        found = s.get(Ticket, ticket(category).id)
        for column, value in columns.items():
            setattr(found, column, value)
        s.commit()


@pytest.mark.usefixtures("reports")
async def test_officers_read_names_words_and_local_time_never_codes(client: TestClient) -> None:
    set_ticket("flood", place_text="Jl. Jatinegara Barat")
    await login(client)
    flood = ticket("flood")
    queue = await (await client.get("/crop")).text()
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    for html in (queue, page, await (await client.get("/crop/map")).text()):
        assert not AREA_CODE.findall(visible(html)), AREA_CODE.findall(visible(html))
        assert "Anda" not in visible(html)
    for html in (queue, await (await client.get("/crop/map")).text()):
        # The filters show names and words; the codes stay the values sent.
        assert '<option value="31.75.03">Kec. Jatinegara</option>' in html
        assert '<option value="dsda">Dinas Sumber Daya Air</option>' in html
        assert '<option value="assigned">diteruskan, belum diambil</option>' in html
    place = "Jl. Jatinegara Barat — Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur"
    assert place in visible(page) and 'id="map-link" href="https://www.openstreetmap.org/?mlat=-6.22450' in page
    assert "Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur" in visible(queue) and "Jl. Jatinegara Barat" in queue
    assert "Dinas Sumber Daya Air" in visible(page) and "baru, belum diteruskan" in visible(page)
    # Times in WIB, however the database keeps them; the markup's datetime keeps the offset for machines.
    shown = times(queue) + times(page)
    assert len(shown) >= 4 and all(t.endswith(" WIB") for t in shown), shown
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+07:00">', page)
    stats = await (await client.get("/crop/stats")).text()
    assert times(stats) and all(t.endswith(" WIB") for t in times(stats)), times(stats)


@pytest.mark.usefixtures("reports")
async def test_the_timeline_tells_every_event_in_words(client: TestClient) -> None:
    flood = ticket("flood")
    with db.session() as s:
        budi = s.scalars(select(Officer).where(Officer.name == "Budi PPSU")).one()
        ops.add_events(s, [{"ticket_id": flood.id, "kind": kind, "actor": actor, "data": data}
                           for kind, actor, data in (
            ("status", f"officer:{budi.id}", {"from": "open", "to": "assigned", "note": None}),
            ("status", f"officer:{budi.id}", {"from": "taken", "to": "open", "note": "→ dlh"}),
            ("citizen_attachment", "citizen:1", {"text": None, "photo": "AgAC-1", "lat": -6.2, "lon": 106.8}),
            ("citizen_comment", "citizen:1", {"text": "airnya makin tinggi"}),
            ("merged", "router", {"ticket": "JKT-2026-000099"}),
            ("category_confirmed", "citizen:1", {"from": "drainage", "to": "flood"}),
            ("question", "router", {"question": "place"}),
            ("question_dropped", "router", {"question": "place"}),
            ("place_set", "citizen:1", {"place": "Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur"}),
            ("unrouted", "router", None),
            ("sla_breach", "sla", {"level": 1, "hours": 7.25}),
            ("waze_gone", "waze", {"score": 12}),
            ("refused", f"web:{budi.id}", {"action": "take"}),
            ("something_new", "somebody", {"whatever": [1, 2]}),
            ("status", "router", {"from": None}),  # a shape nobody writes: still a line, not an error
        )])
        s.commit()
    await login(client)
    response = await client.get(f"/crop/tickets/{flood.public_id}")
    assert response.status == 200
    items = re.findall(r"<li data-kind.*?</li>", await response.text(), re.S)
    lines = [re.sub(r" ([:;])", r"\1", " ".join(visible(li).split())) for li in items]
    text = "\n".join(lines)
    for expected in ("Laporan masuk · warga: kategori banjir / genangan",
                     "Status: baru, belum diteruskan → diteruskan, belum diambil · Budi PPSU",
                     "Status: diambil petugas → baru, belum diteruskan · Budi PPSU: "
                     "dialihkan ke Dinas Lingkungan Hidup",
                     "Lampiran tambahan dari pelapor · warga: foto; titik lokasi",
                     "Keterangan tambahan dari pelapor · warga: airnya makin tinggi",
                     "Laporan lain digabungkan ke tiket ini · sistem: dari tiket JKT-2026-000099",
                     "Pelapor memilih kategori · warga: saluran air / got → banjir / genangan",
                     "Pelapor ditanya · sistem: lokasi laporan",
                     "Pertanyaan dihentikan tanpa jawaban · sistem: lokasi laporan",
                     "Lokasi dilengkapi pelapor · warga: Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur",
                     "Belum ada petugas atau unit yang mencakup wilayah dan kategori ini · sistem",
                     "Melewati target waktu (SLA) · sistem (SLA): tingkat 1, setelah 7.2 jam",
                     "Peringatan Waze hilang dari feed · Waze: skor 12/25",
                     "Tindakan ditolak: petugas tidak berwenang atas tiket ini · Budi PPSU: tindakan: Ambil",
                     "Peristiwa lain (something new) · somebody",
                     "Status: - → - · sistem"):
        assert any(expected in line for line in lines), f"{expected!r} not in\n{text}"
    # No raw event name, status code or agency code is what a person reads.
    for raw in ("created", "citizen_attachment", "status open", "→ assigned", "open →", "dlh", "question_dropped"):
        assert raw not in text, raw
    assert all(line.split(" — ")[0].endswith("WIB") for line in lines)


@pytest.mark.usefixtures("reports")
async def test_only_the_actions_the_status_allows_are_offered(client: TestClient) -> None:
    await login(client)
    flood = ticket("flood")
    path = f"/crop/tickets/{flood.public_id}"
    csrf = await csrf_of(client, path)
    offered = re.findall(r'<option value="(\w+)"', (await (await client.get(path)).text()).split('class="act"')[1]
                         .split("</select>")[0])
    # Open (nobody has received it yet): it may also go to another agency, or another category.
    assert offered == ["take", "progress", "done", "reject", "reassign", "recategorise"]
    await client.post(f"{path}/act", data={"action": "progress", "note": "pompa dikirim", "csrf": csrf})
    page = await (await client.get(path)).text()
    assert ticket("flood").status == "in_progress" and '<option value="take"' not in page
    for status in ("closed", "rejected", "duplicate", "resolved"):
        set_ticket("flood", status=status)
        page = await (await client.get(path)).text()
        assert 'class="act"' not in page and ">Kirim</button>" not in page and 'name="note"' not in page, status
        assert "tidak ada tindakan petugas lagi" in page
    # An action sent from a page the status has since moved past is refused, in words, and changes nothing.
    set_ticket("flood", status="closed")
    refused = await client.post(f"{path}/act", data={"action": "progress", "note": "cek lagi", "csrf": csrf})
    page = await refused.text()
    assert refused.status == 422 and ticket("flood").status == "closed"
    assert f"Tiket {flood.public_id} sekarang ditutup: \"Sedang dikerjakan\" tidak bisa dilakukan." in unescape(page)


@pytest.mark.usefixtures("reports")
async def test_a_refused_action_says_why_and_keeps_what_was_typed(client: TestClient) -> None:
    await login(client)
    flood = ticket("flood")
    path = f"/crop/tickets/{flood.public_id}"
    csrf = await csrf_of(client, path)
    refused = await client.post(f"{path}/act", data={"action": "done", "note": "air mulai surut", "csrf": csrf})
    page = unescape(await refused.text())
    assert refused.status == 422 and ticket("flood").status == flood.status
    assert f'Untuk menandai {flood.public_id} selesai, pilih foto hasil pekerjaan' in page  # the dashboard's words
    assert "sebagai balasan" not in page  # not the Telegram instruction
    assert 'name="note" size="40" value="air mulai surut"' in page and '<option value="done" selected>' in page
    refused = await client.post(f"{path}/act", data={"action": "reject", "note": "", "csrf": csrf})
    assert refused.status == 422 and "alasan penolakan" in unescape(await refused.text())
    assert ticket("flood").status == flood.status
    # A refusal by the rights keeps the typed note too; an action that works redirects (a reload cannot repeat it).
    done = await client.post(f"{path}/act", data={"action": "progress", "note": "pompa dikirim", "csrf": csrf},
                             allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == path
    again = await client.post(f"{path}/act", data={"action": "progress", "note": "pompa kedua", "csrf": csrf},
                              allow_redirects=False)
    assert again.status == 303  # another note while in progress changes no status but is an action: it goes
    with db.session() as s:
        assert [e.data["note"] for e in ops.events_of(s, flood.id) if e.kind == "status"][-2:] == ["pompa dikirim",
                                                                                              "pompa kedua"]
