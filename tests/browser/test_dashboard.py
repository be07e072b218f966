"""The officers' dashboard in a real browser (headless Chromium), on SQLite and PostgreSQL: /crop sends a stranger to
the login form, a wrong password is refused there, and an officer who logs in lands on the queue, narrows it by
category, opens a ticket (its timeline, the report's text as text) and takes it with the ticket page's form.

The app is assembled as `crophub web` assembles it (hub/cli.py cmd_web); every action goes through `act()`, which
fills the ticket page's form as an officer does (action, note, agency, photo) and submits it.
"""
from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from aiohttp import web
from playwright.async_api import expect

from hub.settings import WebSettings
from router.templates import status_label
from store import db
from tests.browser.conftest import Watch, serve, until
from tests.browser.test_public_page import LEAFLET_HOOK, OUTLINES_JS, REVEAL_JS, markers
from tests.web.conftest import PASSWORD, officer_with_login, report, ticket
from web import media, public, site
from web.app import make_app

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

USERNAME = "budi"
OFFICER = "Budi PPSU"
SCRIPT = "<script>window.__pwned = 1</script>"
FLOOD = f"banjir 50 cm {SCRIPT} di jl jatinegara barat"


def crop_app() -> web.Application:
    """The officers' pages, their login and the public page, as `crophub web` (hub/cli.py cmd_web) puts them
    together, with the default settings but no map tiles."""
    settings, sessions = WebSettings(), db.factory()
    app = make_app(lambda: {"redis": True}, settings.max_photo_bytes, tile_url="")
    view = public.Config(tile_url="", days=settings.public_days, min_count=settings.min_count)
    site.mount(app, sessions, None, media.Photos(sessions, settings.max_photo_bytes),
               site.Site(view, settings.session_hours, settings.secure_cookies))
    return app


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    """Two citizens' reports through the intake and pipeline: a flood (in Jatinegara) and garbage."""
    report(redis_conn, "tg-1", FLOOD, -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


@pytest.fixture
def officer(reports: None) -> None:
    """Budi covers water (dsda) in Jakarta Timur and has a dashboard login (as `crophub account add` makes it).
    He joins after the reports are filed, so they wait open in the queue (on the roster before, he would have
    been sent the flood, which then is his: assigned)."""
    officer_with_login(USERNAME, OFFICER, "7101")


@pytest_asyncio.fixture(loop_scope="session")  # the server must run in the loop the test and browser run in
async def base_url(officer: None) -> AsyncIterator[str]:
    async with serve(crop_app()) as url:
        yield url


async def log_in(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    """Fill and send the login form the page shows."""
    await page.get_by_label("Nama pengguna").fill(username)
    await page.get_by_label("Kata sandi").fill(password)
    await page.get_by_role("button", name="Masuk").click()


async def logged_in(page: Page, base_url: str) -> None:
    await page.goto(base_url + "/login")
    await log_in(page)
    await expect(page).to_have_url(base_url + "/crop")


async def act(page: Page, action: str, note: str = "", agency: str = "", photo: Path | None = None) -> None:
    """On a ticket's page: choose `action` (its code: take, progress, done, reject, reassign), fill the note, agency
    and photo as given, and send the form."""
    form = page.locator("form.act")
    await form.get_by_label("Tindakan").select_option(action)
    if note:
        await form.get_by_label("Catatan / alasan").fill(note)
    if agency:
        await form.get_by_label("Dinas (untuk dialihkan)").select_option(agency)
    if photo is not None:
        # By its type: the label "Foto hasil" is also in the action list's "Selesai (dengan foto hasil)".
        await form.locator("input[type=file]").set_input_files(photo)
    async with page.expect_navigation():
        await form.get_by_role("button", name="Kirim").click()


# HF: the officers' map draws every ticket as its own circle (no clustering, unlike the public map): once they are in
# and fitBounds has finished zooming, where each is, in page coordinates.
CROP_MARKERS_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  if (!map || !element.dataset.loaded || !map._fitted) { return null; }
  const box = map.getContainer().getBoundingClientRect(), markers = [];
  map.eachLayer(l => { if (l instanceof L.CircleMarker && l.feature) {
    const p = map.latLngToContainerPoint(l.getLatLng());
    markers.push({x: box.left + p.x, y: box.top + p.y, text: l.feature.properties.text}); } });
  return {loaded: Number(element.dataset.loaded), markers}; }"""


async def crop_markers(page: Page) -> dict:  # type: ignore[type-arg]
    return await until(page, CROP_MARKERS_JS)  # type: ignore[no-any-return]
# end HF


def rows(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#queue tbody tr")


async def test_the_dashboard_needs_a_login_and_refuses_a_wrong_password(page: Page, watch: Watch,
                                                                        base_url: str) -> None:
    await page.goto(base_url + "/crop")
    await expect(page).to_have_url(re.compile(re.escape(base_url) + r"/login\?next=(%2F|/)crop$"))
    await expect(page.locator("#queue")).to_have_count(0)

    await log_in(page, password="salah-sekali-123")
    await expect(page.get_by_role("alert")).to_have_text("Nama pengguna atau kata sandi salah.")
    await expect(page).to_have_url(base_url + "/login")
    await expect(page.locator("#queue")).to_have_count(0)

    await log_in(page)  # the form shown with the error carries a fresh login token and the page asked for
    await expect(page).to_have_url(base_url + "/crop")
    await expect(page.get_by_role("heading", name="Antrean laporan")).to_be_visible()
    await expect(page.locator("header .who")).to_contain_text(OFFICER)
    await expect(rows(page)).to_have_count(2)

    # The refused login's 401 is the only complaint (Chromium logs it), and nothing left the test server.
    assert len(watch.errors) == 1 and "status of 401" in watch.errors[0], watch.errors
    assert not watch.blocked, watch.blocked


async def test_the_queue_narrows_by_category(page: Page, watch: Watch, base_url: str) -> None:
    flood, garbage = ticket("flood"), ticket("garbage")
    await logged_in(page, base_url)
    await expect(rows(page)).to_have_count(2)
    await expect(page.locator("#queue")).to_contain_text(flood.public_id)
    await expect(page.locator("#queue")).to_contain_text(garbage.public_id)

    await page.locator("form.filters").get_by_label("Kategori").select_option("garbage")
    await page.get_by_role("button", name="Saring").click()
    await expect(page).to_have_url(re.compile(r"/crop\?.*category=garbage"))
    await expect(rows(page)).to_have_count(1)
    await expect(rows(page).first).to_contain_text(garbage.public_id)
    await expect(page.locator("#queue")).not_to_contain_text(flood.public_id)
    await expect(page.locator("form.filters").get_by_label("Kategori")).to_have_value("garbage")
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_a_ticket_shows_its_timeline_and_its_report_as_text(page: Page, watch: Watch, base_url: str) -> None:
    flood = ticket("flood")
    await logged_in(page, base_url)
    await page.get_by_role("link", name=flood.public_id).click()
    await expect(page).to_have_url(f"{base_url}/crop/tickets/{flood.public_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text(flood.public_id)

    await expect(page.locator("#timeline li").first).to_contain_text("Laporan masuk")
    await expect(page.locator("#timeline li").first).to_contain_text("WIB")
    await expect(page.locator("#sources")).to_contain_text("1 warga lewat telegram")
    await expect(page.locator("#report-text")).to_have_text(FLOOD)  # the markup shown as the citizen typed it
    assert await page.locator("#report-text script").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_taking_a_ticket_changes_its_status_on_the_page_and_in_the_database(page: Page, watch: Watch,
                                                                                   base_url: str) -> None:
    flood = ticket("flood")
    assert flood.status == "open"
    await logged_in(page, base_url)
    await page.goto(f"{base_url}/crop/tickets/{flood.public_id}")
    await expect(page.locator("#status")).to_have_text(status_label("open", "id", officer=True))
    events = await page.locator("#timeline li").count()

    await act(page, "take")
    await expect(page.locator("#status")).to_have_text(status_label("taken", "id", officer=True))
    await expect(page.locator("#timeline li")).to_have_count(events + 1)
    await expect(page.locator("#timeline li").last).to_contain_text(OFFICER)
    await expect(page.locator("#timeline li").last).to_contain_text("Status: baru, belum diteruskan → diambil petugas")
    assert ticket("flood").status == "taken" and ticket("flood").assigned_officer_id is not None
    assert ticket("garbage").status == "open"
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


def png(path: Path) -> Path:
    """A real 2×2 PNG (the page must be able to draw it), written with zlib alone."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compress(b"".join(b"\x00" + b"\x20\x80\xc0" * 2 for _ in range(2)))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


async def test_resolving_with_a_photo_shows_it_and_the_public_map_marks_the_report_done(
        page: Page, watch: Watch, base_url: str, tmp_path: Path) -> None:
    flood = ticket("flood")
    await logged_in(page, base_url)
    await page.goto(f"{base_url}/crop/tickets/{flood.public_id}")
    await act(page, "take")
    await act(page, "done", note="air sudah surut", photo=png(tmp_path / "hasil.png"))
    await expect(page.locator("#status")).to_have_text(status_label("resolved", "id", officer=True))
    await expect(page.locator("form.act")).to_have_count(0)  # the reporter's turn: nothing for officers to do
    await expect(page.locator("#timeline li").last).to_contain_text("air sudah surut")
    after = page.locator("#photo-resolution")
    await expect(after).to_be_visible()
    await until(page, "() => document.getElementById('photo-resolution').complete")
    assert await after.evaluate("img => img.naturalWidth") == 2  # the uploaded photo, drawn by the browser
    assert ticket("flood").status == "resolved" and ticket("flood").resolution_photo_file_id

    # The public map shows the report as done (and nothing of the officer's photo or the citizen).
    await page.add_init_script(LEAFLET_HOOK)
    await page.goto(base_url + "/")
    drawn = await markers(page)
    assert any("banjir" in m["text"] for m in drawn["markers"])
    spot = await page.evaluate(REVEAL_JS, "banjir")  # zoomed in until its cluster splits, as a user would
    await page.mouse.click(spot["x"], spot["y"])
    popup = page.locator("#map .leaflet-popup-content")
    await expect(popup).to_contain_text(flood.public_id)
    await expect(popup).to_contain_text("selesai")
    # The city publishes no photos here (open311.public_photos is off): none is asked for or linked, and
    # the officer's photo, which is never public, is nowhere.
    assert not any("/photos/" in u or "/crop/" in u for u in watch.requests[watch.requests.index(base_url + "/"):])
    assert "/public/photos/" not in await page.content() and "/crop/" not in await page.content()
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_the_officers_map_shows_the_queue_and_a_popup_leads_to_the_ticket(page: Page, watch: Watch,
                                                                              base_url: str) -> None:
    flood = ticket("flood")
    await page.add_init_script(LEAFLET_HOOK)
    await logged_in(page, base_url)
    await page.get_by_role("link", name="Peta", exact=True).click()
    await expect(page).to_have_url(base_url + "/crop/map")
    drawn = await crop_markers(page)
    assert drawn["loaded"] == 2 and {("banjir" in m["text"]) for m in drawn["markers"]} == {True, False}
    await until(page, f"({OUTLINES_JS})() > 40")  # the kecamatan outlines, without any tiles
    spot = next(m for m in drawn["markers"] if "banjir" in m["text"])
    await page.mouse.click(spot["x"], spot["y"])
    popup = page.locator("#map .leaflet-popup-content")
    await expect(popup.locator(".popup-text")).to_have_text(FLOOD)  # the whole text, as text
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    async with page.expect_navigation():
        await popup.get_by_role("link", name=flood.public_id).click()
    await expect(page).to_have_url(f"{base_url}/crop/tickets/{flood.public_id}")
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
