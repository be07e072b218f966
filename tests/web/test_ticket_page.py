"""The public ticket page /t/<id> over real HTTP, on SQLite and PostgreSQL: what it shows (category, area, the agency
holding it, the trail in WIB, photos only where the city publishes them), what it never shows (names, chat ids,
phones, emails, officers), which tickets are public at all, the search box, and the acknowledgement's link."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape
from typing import AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError
from rq import Queue
from sqlalchemy import select

from hub.runtime import router_config
from hub.settings import WebSettings, parse
from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address, Location, Media, Message, Sender
from router import context, handoff, lifecycle
from router.context import RouterConfig
from store import db, media, ops
from store.models import Citizen, Officer, Outbox, Ticket, TicketReporter
from tests.web.conftest import CITIZEN, officer_with_login, report, work
from web import public, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

PHONE, EMAIL = "0812-3456-7890", "budi.s@example.com"
FLOOD = f"banjir 50 cm di jalan, saya Budi Santoso, hubungi {PHONE} atau {EMAIL}"
OFFICER = "Slamet Riyadi"
# Who the citizen and the officer are: none of it may appear on the page or in its JSON.
PERSONAL = ("Budi", "Santoso", "budisan", CITIZEN.id, PHONE, EMAIL, "3456", "example.com", OFFICER, "Slamet", "7301")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"lubang" * 20 + b"\xff\xd9"
AFTER = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"rapi" * 30 + b"\xff\xd9"


def visible(html: str) -> str:
    """The text a person reads on a page (no tags, entities decoded)."""
    return unescape(re.sub(r"<[^>]*>", " ", html))


def app_of(*, photos: bool = False, text: bool = True) -> TestServer:
    """`crophub web`'s site (web/site.py), as hub/cli.py mounts it, without tiles."""
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=1024 * 1024),
               site.Site(view=public.Config(tile_url="", public_photos=photos), chat=False, public_text=text))
    return TestServer(app)


@pytest.fixture
async def client(hub: str) -> AsyncIterator[TestClient]:
    async with TestClient(app_of()) as c:
        yield c


def flood_ticket(conn: redis.Redis) -> Ticket:
    """A flood in Kampung Melayu (Jatinegara) from Budi on Telegram, sent to the officer who covers it."""
    officer_with_login("slamet", OFFICER, "7301")  # Jakarta Timur, dsda (water)
    report(conn, "tg-1", FLOOD, -6.2245, 106.8660)
    with db.session() as s:
        return s.scalars(select(Ticket).where(Ticket.category == "flood")).one()


def act(public_id: str, to: str, at: datetime, note: str | None = None, photo: str | None = None) -> None:
    """The officer moves the ticket on, as router/crop.py does (lifecycle.change, with their id)."""
    with db.session() as s:
        ticket = ops.ticket_by_public_id(s, public_id)
        officer = s.scalars(select(Officer).where(Officer.name == OFFICER)).one()
        assert ticket is not None
        lifecycle.change(s, ticket, to, f"officer:{officer.id}", officer_id=officer.id, note=note, photo=photo, at=at)
        s.commit()


async def test_the_page_shows_what_where_who_holds_it_and_the_trail_in_wib(client: TestClient,
                                                                         redis_conn: redis.Redis) -> None:
    flood = flood_ticket(redis_conn)
    # 17:30 UTC is half past midnight the next day in Jakarta.
    act(flood.public_id or "", "taken", datetime(2026, 3, 2, 17, 30, tzinfo=timezone.utc),
        note=f"dikerjakan {OFFICER}, hubungi {PHONE}")
    response = await client.get(f"/t/{flood.public_id}")
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    text = visible(html)
    assert f"{flood.public_id} — banjir / genangan" in text
    assert "Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur" in text
    assert re.search(r'id="agency">Dinas Sumber Daya Air', html)
    trail = re.findall(r"<li><time[^>]*>([^<]+)</time> <span class=\"what\">([^<]+)</span>", html)
    assert trail[0][1] == "Laporan diterima" and all(at.endswith(" WIB") for at, _ in trail)
    assert ("Diteruskan, belum diambil" in [w for _, w in trail]) and "petugas Dinas Sumber Daya Air" in text
    assert ("3 Mar 2026 00:30 WIB", "Diambil petugas") in trail
    assert re.search(r'<time id="created" datetime="[^"]+\+07:00">\d+ \w+ \d{4} \d\d:\d\d WIB</time>', html)
    # The small map: the point (rounded as the public map rounds it), Leaflet and this page's script, no inline code.
    assert 'data-lat="-6.2245" data-lon="106.866"' in html and "/static/ticket_page.js" in html
    assert "<script>" not in html and "style=" not in html
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    script = await client.get("/static/ticket_page.js")
    assert script.status == 200 and "crophubBaseMap" in await script.text()


async def test_no_personal_data_on_the_page_or_in_its_json(client: TestClient, redis_conn: redis.Redis) -> None:
    flood = flood_ticket(redis_conn)
    act(flood.public_id or "", "taken", datetime.now(timezone.utc), note=f"sudah ditelepon {PHONE}, {OFFICER}")
    html = await (await client.get(f"/t/{flood.public_id}")).text()
    data = await (await client.get(f"/t/{flood.public_id}.json")).json()
    # The report's text is shown masked: the reporter's name (as Telegram gave it), the phone and email go.
    assert "saya [nama], hubungi [telepon]" in data["text"] and "[telepon]" in data["text"] and "[email]" in data["text"]
    assert "[telepon]" in visible(html) and "banjir 50 cm" in visible(html)
    for shown in (html, str(data)):
        assert not [p for p in PERSONAL if p in shown], [p for p in PERSONAL if p in shown]
    assert data["id"] == flood.public_id and data["category"] == "flood" and data["created_iso"].endswith("+07:00")
    assert [e["what"] for e in data["trail"]][:3] == ["Laporan diterima", "Diteruskan, belum diambil",
                                                     "Diambil petugas"]
    # A city that keeps texts private (web.public_text: false): no text at all, the rest as before.
    async with TestClient(app_of(text=False)) as private:
        page = await (await private.get(f"/t/{flood.public_id}")).text()
        assert 'id="report-text"' not in page and "banjir 50 cm" not in page and "banjir / genangan" in page
        assert (await (await private.get(f"/t/{flood.public_id}.json")).json())["text"] is None


async def test_a_handoff_shows_where_the_ticket_went_and_why_but_not_who(client: TestClient,
                                                                         redis_conn: redis.Redis) -> None:
    flood = flood_ticket(redis_conn)
    with db.session() as s:
        ticket = ops.ticket_by_public_id(s, flood.public_id or "")
        officer = s.scalars(select(Officer).where(Officer.name == OFFICER)).one()
        assert ticket is not None
        # As an officer's "alihkan kel cipinang muara bukan_wilayah <own words>" does (router/crop.py).
        handoff.hand_off(s, ticket, officer, f"kel cipinang muara bukan_wilayah kata {OFFICER} hubungi {PHONE}",
                         None, "id", send=lambda _ticket, _prefix: [])
        s.commit()
    html = await (await client.get(f"/t/{flood.public_id}")).text()
    text = visible(html)
    assert "Dialihkan" in text and "ke Kelurahan Cipinang Muara (alasan: bukan wilayah kami)" in text
    assert re.search(r'id="agency">Dinas Sumber Daya Air — Kelurahan Cipinang Muara<', html)
    assert not [p for p in PERSONAL if p in html], [p for p in PERSONAL if p in html]


def web_chat_report_with_photo(conn: redis.Redis) -> str:
    """A web chat report carrying a photo kept here, in Kampung Melayu; → its ticket's public id."""
    ref, photo = media.prepare(JPEG, 1024 * 1024)
    msg = Message(channel="web", key="chat-1:m-000001", sender=Sender(id="chat-1"),
                  address=Address(channel="web", chat_id="chat-1"), text="jalan berlubang di jl jatinegara barat",
                  location=Location(lat=-6.2245, lon=106.8660), media=[Media(kind="photo", file_id=ref)],
                  blobs={ref: photo}, received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)
    with db.session() as s:
        return s.scalars(select(Ticket.public_id)).one()


async def test_photos_only_where_the_city_publishes_them(client: TestClient, redis_conn: redis.Redis) -> None:
    public_id = web_chat_report_with_photo(redis_conn)
    with db.session() as s:
        after = media.save(s, AFTER, 1024 * 1024)
        ticket = ops.ticket_by_public_id(s, public_id)
        assert ticket is not None
        lifecycle.change(s, ticket, "resolved", "officer:1", photo=after)
        s.commit()
    html = await (await client.get(f"/t/{public_id}")).text()
    assert "/photo/" not in html and "<img" not in html
    assert (await client.get(f"/t/{public_id}/photo/report")).status == 404
    assert (await client.get(f"/t/{public_id}/photo/result")).status == 404
    async with TestClient(app_of(photos=True)) as published:
        html = await (await published.get(f"/t/{public_id}")).text()
        assert f'id="photo-report" src="/t/{public_id}/photo/report"' in html
        assert f'id="photo-result" src="/t/{public_id}/photo/result"' in html
        before = await published.get(f"/t/{public_id}/photo/report")
        assert before.status == 200 and await before.read() == JPEG and before.content_type == "image/jpeg"
        assert await (await published.get(f"/t/{public_id}/photo/result")).read() == AFTER
        assert (await published.get(f"/t/{public_id}/photo/other")).status == 404
        assert (await published.get("/t/JKT-2026-999999/photo/report")).status == 404


async def test_only_reports_are_public_and_a_duplicate_points_to_its_ticket(client: TestClient,
                                                                          redis_conn: redis.Redis) -> None:
    flood = flood_ticket(redis_conn)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)
    with db.session() as s:
        garbage = s.scalars(select(Ticket).where(Ticket.category == "garbage")).one()
        citizen = s.scalars(select(Citizen)).one()
        # As filing.merge_into marks a ticket that turns out to repeat another.
        lifecycle.change(s, garbage, "duplicate", "router", note=flood.public_id)
        garbage.duplicate_of_id = flood.id
        # A ticket the Waze feed filed that no citizen joined (router/waze.py), and one a citizen joined.
        s.add_all([Ticket(public_id="JKT-2026-900001", channel="waze", category="traffic", text="Jam: Jl. Otista",
                          reply_address={}, lat=-6.23, lon=106.87, status="open"),
                   Ticket(public_id="JKT-2026-900002", channel="waze", category="traffic", text="Jam: Jl. Otista",
                          reply_address={}, lat=-6.23, lon=106.87, status="open")])
        s.flush()
        joined = ops.ticket_by_public_id(s, "JKT-2026-900002")
        assert joined is not None
        s.add(TicketReporter(ticket_id=joined.id, citizen_id=citizen.id, reply_address={}, language="id"))
        s.commit()
        garbage_id = garbage.public_id
    page = await client.get(f"/t/{garbage_id}")
    html = await page.text()
    assert page.status == 200 and f'Laporan ini digabung ke <a href="/t/{flood.public_id}">' in html
    assert f'<a href="/t/{flood.public_id}">ke {flood.public_id}</a>' in html  # the trail's line links it too
    assert (await (await client.get(f"/t/{garbage_id}.json")).json())["duplicate_of"] == flood.public_id

    waze = await client.get("/t/JKT-2026-900001")
    assert waze.status == 404 and "tidak ditemukan, atau tidak ditampilkan untuk umum" in await waze.text()
    shown = await (await client.get("/t/JKT-2026-900002.json")).json()
    assert shown["category"] == "traffic" and shown["text"] is None  # Waze's words stay off public pages
    with db.session() as s:
        ticket = ops.ticket_by_public_id(s, flood.public_id or "")
        assert ticket is not None
        ticket.category = "not_report"
        s.commit()
    assert (await client.get(f"/t/{flood.public_id}")).status == 404


async def test_unknown_and_malformed_ids_get_a_clear_page_with_the_search_box(client: TestClient) -> None:
    missing = await client.get("/t/JKT-2026-999999")
    html = await missing.text()
    assert missing.status == 404 and missing.content_type == "text/html"
    assert "Tiket JKT-2026-999999 tidak ditemukan" in html and '<form class="ticket-search" method="get" action="/t"' in html
    malformed = await client.get("/t/banjir%3Cb%3E")
    html = await malformed.text()
    assert malformed.status == 404 and "bukan nomor tiket" in html and "JKT-2026-000123" in html
    assert "<b>" not in html and "banjir&lt;b&gt;" in html
    as_json = await client.get("/t/JKT-2026-999999.json")
    assert as_json.status == 404 and "tidak ditemukan" in (await as_json.json())["error"]
    assert (await client.get("/t/" + "1" * 5000)).status == 404


async def test_the_search_box_finds_a_ticket_by_its_number(client: TestClient, redis_conn: redis.Redis) -> None:
    flood = flood_ticket(redis_conn)
    found = await client.get("/t", params={"id": f"  {(flood.public_id or '').lower()}\t"}, allow_redirects=False)
    assert found.status == 302 and found.headers["Location"] == f"/t/{flood.public_id}"
    followed = await client.get("/t", params={"id": (flood.public_id or "").lower()})
    assert followed.status == 200 and str(followed.url).endswith(f"/t/{flood.public_id}")
    assert "banjir / genangan" in await followed.text()
    bad = await client.get("/t", params={"id": "banjir di kemang"})
    assert bad.status == 400 and "bukan nomor tiket" in await bad.text()
    empty = await client.get("/t")
    assert empty.status == 200 and 'name="id"' in await empty.text()
    lower = await client.get(f"/t/{(flood.public_id or '').lower()}", allow_redirects=False)
    assert lower.status == 301 and lower.headers["Location"] == f"/t/{flood.public_id}"
    # The public page (/) carries the same search box.
    assert '<form class="ticket-search" method="get" action="/t"' in await (await client.get("/")).text()


def ack_of(public_id: str) -> str:
    with db.session() as s:
        ticket = ops.ticket_by_public_id(s, public_id)
        assert ticket is not None
        return s.scalars(select(Outbox.text).where(Outbox.ticket_id == ticket.id, Outbox.chat_key.contains(CITIZEN.id))
                         .order_by(Outbox.id)).first() or ""


def test_the_acknowledgement_links_the_page_only_when_the_site_has_a_public_address(redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", "banjir 50 cm di jalan", -6.2245, 106.8660)
    with db.session() as s:
        first = s.scalars(select(Ticket.public_id)).one()
    assert "/status" in ack_of(first) and "Lihat:" not in ack_of(first) and "/t/" not in ack_of(first)

    context.configure(RouterConfig(retry_intervals=[1, 2], public_url="https://lapor.jakarta.go.id"), redis_conn)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)
    with db.session() as s:
        second = s.scalars(select(Ticket.public_id).where(Ticket.category == "garbage")).one()
    assert f"/status {second}\nLihat: https://lapor.jakarta.go.id/t/{second}" in ack_of(second)


def test_the_public_address_is_a_site_url_or_nothing() -> None:
    assert WebSettings().public_url is None and router_config(parse({})).public_url is None
    assert WebSettings(public_url="https://lapor.jakarta.go.id/ ").public_url == "https://lapor.jakarta.go.id"
    assert router_config(parse({"web": {"public_url": "https://lapor.jakarta.go.id"}})).public_url \
        == "https://lapor.jakarta.go.id"
    for bad in ("lapor.jakarta.go.id", "ftp://lapor.jakarta.go.id", "https://lapor.jakarta.go.id/?a=1"):
        with pytest.raises(ValidationError):
            WebSettings(public_url=bad)


@pytest.mark.parametrize("chat", [True, False], ids=["chat on", "chat off"])
async def test_the_lapor_link_is_there_only_when_the_web_chat_is(hub: str, chat: bool) -> None:
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=1024 * 1024),
               site.Site(view=public.Config(tile_url=""), chat=chat))
    try:
        async with TestClient(TestServer(app)) as c:
            for path in ("/", "/t"):
                resp = await c.get(path)
                assert resp.status == 200 and ('href="/chat"' in await resp.text()) == chat
            assert (await c.get("/chat")).status == (200 if chat else 404)
    finally:
        public.templates.globals["web_chat"] = True  # the pages' default, for the tests that follow
