"""The public ticket page in a real browser (headless Chromium), on SQLite and PostgreSQL: on a 360-px phone it
fits the screen (no sideways scrolling), its small map draws the kecamatan outlines and the report's point without
tiles or any other host, nobody's personal data shows, and the public page's search box leads to it.

Screenshots go to CROPHUB_TEST_SHOTS (a directory) when it is set, to be looked at."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from aiohttp import web
from playwright.async_api import expect
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Intake
from router import context
from router.context import RouterConfig
from store import db
from store.models import Ticket
from tests.browser.conftest import Watch, serve, until
from tests.browser.test_public_page import LEAFLET_HOOK, OUTLINES_JS, PAINTED_JS, kecamatan_count
from tests.web.conftest import CITIZEN, officer_with_login, report, work
from web import public, site
from web.app import make_app
from web.media import Photos

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

PHONE, EMAIL = "0812-3456-7890", "budi.s@example.com"
PERSONAL = ("Budi", "Santoso", CITIZEN.username or "budisan", CITIZEN.id, PHONE, EMAIL, "Slamet", "7301")
PHONE_WIDTH = 360

# The report's point on the map, in page coordinates, once ticket_page.js has set the view.
POINT_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  if (!map || element.dataset.ready !== "1") { return null; }
  const found = [];
  map.eachLayer(l => { if (l instanceof L.CircleMarker) { found.push(l.getLatLng()); } });
  return found.length === 1 ? {lat: found[0].lat, lon: found[0].lng, zoom: map.getZoom(),
                               inside: map.getBounds().contains(found[0])} : null; }"""


def shot(name: str) -> str | None:
    """Where to save a screenshot (CROPHUB_TEST_SHOTS), or None."""
    folder = os.environ.get("CROPHUB_TEST_SHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / name)


def site_app(conn: redis.Redis | None = None) -> web.Application:
    """`crophub web` as hub/cli.py mounts it, without tiles; with the web chat when given Redis for its intake."""
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    intake = Intake(sessions, Queue(INTAKE_QUEUE, connection=conn)) if conn is not None else None
    site.mount(app, sessions, intake, Photos(sessions, max_bytes=1024 * 1024),
               site.Site(view=public.Config(tile_url="", min_count=1), chat=conn is not None))
    return app


@pytest_asyncio.fixture(loop_scope="session")
async def flood(hub: str, redis_conn: redis.Redis) -> AsyncIterator[tuple[str, str]]:
    """A flood report with a phone, an email and the reporter's name in it, sent to the officer covering it;
    → (site URL, its ticket id)."""
    officer_with_login("slamet", "Slamet Riyadi", "7301")
    report(redis_conn, "tg-1", f"banjir 50 cm di jalan, saya Budi Santoso, hubungi {PHONE} atau {EMAIL}",
           -6.2245, 106.8660)
    with db.session() as s:
        public_id = s.scalars(select(Ticket.public_id)).one() or ""
    async with serve(site_app()) as url:
        yield url, public_id


async def test_the_ticket_page_fits_a_phone_and_maps_the_report(page: Page, watch: Watch,
                                                               flood: tuple[str, str]) -> None:
    url, public_id = flood
    await page.set_viewport_size({"width": PHONE_WIDTH, "height": 740})
    await page.add_init_script(LEAFLET_HOOK)
    response = await page.goto(f"{url}/t/{public_id}")
    assert response is not None and response.status == 200
    point = await until(page, POINT_JS)
    assert (round(point["lat"], 4), round(point["lon"], 4)) == (-6.2245, 106.866) and point["inside"], point
    await until(page, f"({OUTLINES_JS})() === {kecamatan_count()}")
    await until(page, f"({PAINTED_JS})() > 1000")
    assert await page.locator("#map .leaflet-tile").count() == 0
    # No sideways scrolling on a 360-px phone, and the map is as wide as the screen allows.
    widths = await page.evaluate("() => [document.documentElement.scrollWidth, document.body.scrollWidth, "
                                 "document.getElementById('map').getBoundingClientRect().width]")
    assert widths[0] <= PHONE_WIDTH and widths[1] <= PHONE_WIDTH and widths[2] > 250, widths
    assert await page.locator("#category").inner_text() == "banjir / genangan"
    assert (await page.locator("#area").inner_text()).startswith("Kel. Kampung Melayu, Kec. Jatinegara")
    assert (await page.locator("#created").inner_text()).endswith(" WIB")
    assert await page.locator("#trail li").count() >= 2
    shown = await page.locator("main").inner_text()
    assert "[telepon]" in shown and "[email]" in shown and "[nama]" in shown
    assert not [p for p in PERSONAL if p in await page.content()]
    if (path := shot("ticket_page_360.png")) is not None:
        await page.screenshot(path=path, full_page=True)
    assert not watch.errors, watch.errors
    assert not watch.blocked, f"requests to other hosts: {watch.blocked}"


async def test_the_public_pages_search_box_leads_to_the_ticket(page: Page, watch: Watch,
                                                             flood: tuple[str, str]) -> None:
    url, public_id = flood
    await page.goto(url + "/")
    await page.fill("#ticket-id", f"  {public_id.lower()} ")
    await page.click("form.ticket-search button")
    await page.wait_for_url(f"{url}/t/{public_id}")
    watch.errors.clear()  # the public page's own complaints are test_public_page's to judge
    assert await page.locator("#ticket-id-shown").inner_text() == public_id
    # A number that does not exist: the page says so, and offers the box again.
    await page.fill("#ticket-id", "JKT-2026-999999")
    await page.click("form.ticket-search button")
    await page.wait_for_url(f"{url}/t/JKT-2026-999999")
    assert "tidak ditemukan" in await page.locator("#reason").inner_text()
    if (path := shot("ticket_page_missing.png")) is not None:
        await page.screenshot(path=path, full_page=True)
    # Only the page's own 404 status is a complaint here (Chromium logs it as a failed resource).
    assert all("404" in e for e in watch.errors), watch.errors


async def test_the_web_chats_acknowledgement_links_the_ticket_page(page: Page, watch: Watch, hub: str,
                                                                  redis_conn: redis.Redis) -> None:
    async with serve(site_app(redis_conn)) as url:
        # web.public_url: this site (the worker below is this process, so its router reads it).
        context.configure(RouterConfig(retry_intervals=[1, 2], public_url=url), redis_conn)
        await page.goto(url + "/chat")
        await page.get_by_label("Pesan").fill("banjir setinggi lutut di jl jatinegara barat")
        await page.get_by_role("button", name="Kirim").click()
        mine = page.locator("#messages .msg-me")
        await expect(mine).to_have_count(1)
        await expect(mine.first).to_have_class("msg msg-me")  # stored by the hub (202), not still on its way
        work(redis_conn)
        with db.session() as s:
            public_id = s.scalars(select(Ticket.public_id)).one()
        link = page.locator("#messages .msg-hub a").first
        await expect(link).to_have_text(f"{url}/t/{public_id}", timeout=5000)  # the page polls every 2 s
        assert await link.get_attribute("href") == f"{url}/t/{public_id}"
        assert "Lihat: " in await page.locator("#messages .msg-hub").first.inner_text()
        async with page.context.expect_page() as opened:
            await link.click()
        ticket_page = await opened.value
        await ticket_page.wait_for_load_state()
        assert await ticket_page.locator("#ticket-id-shown").inner_text() == public_id
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
