"""The officers' field view in a real browser (headless Chromium), on SQLite and PostgreSQL: the queue's "Lewat batas"
view with its SLA countdowns, which the page's script keeps counting (the page's clock moved on, no sleeping); the
ticket page's map of its point; a supervisor sees an officer sharing a live location on the officers' map.
Screenshots go to the test's tmp_path (look at them when changing these pages)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from playwright.async_api import expect

from router import crop
from tests.browser.conftest import Watch, serve, until
from tests.browser.test_dashboard import FLOOD, crop_app, log_in
from tests.browser.test_public_page import LEAFLET_HOOK
from tests.web.conftest import PASSWORD, officer_with_login, report, ticket
from tests.web.test_dashboard import set_ticket
from tests.web.test_live_location import OFFICER_TG, deliver, update
from web.labels import ACTIONS

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

SHOTS = Path("/tmp/crophub-shots")  # also kept here, for a person to look at after a run

# The ticket page's map: its centre and zoom, and the point drawn on it, once Leaflet has set it up.
TICKET_MAP_JS = """() => { const map = window.__maps[0], element = document.getElementById("ticket-map");
  if (!map || element.dataset.loaded !== "1") { return null; }
  let point = null; map.eachLayer(l => { if (l instanceof L.CircleMarker) { point = l.getLatLng(); } });
  const centre = map.getCenter();
  return {lat: centre.lat, lon: centre.lng, zoom: map.getZoom(), point: point && [point.lat, point.lng],
          height: element.getBoundingClientRect().height}; }"""


# The officers' map has loaded its tickets, fitted them, and is not moving.
SETTLED_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  return Boolean(map && element.dataset.loaded && map._fitted && !map._animatingZoom
                 && !(map._panAnim && map._panAnim._inProgress)); }"""


@pytest.fixture
def late_flood(hub: str, redis_conn: redis.Redis) -> None:
    """A flood that reached officers 3 h 5 m ago, unanswered (2 h to respond: 1 h 5 m late), and garbage sent 10 m
    ago (24 h to respond); Budi (water, Jakarta Timur) and Sari (supervisor) have logins."""
    report(redis_conn, "tg-1", FLOOD, -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)
    officer_with_login("budi", "Budi PPSU", "7101")
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    officer_with_login("tono", "Tono Lapangan", OFFICER_TG)
    now = datetime.now(timezone.utc)
    set_ticket("flood", status="assigned", sla_started_at=now - timedelta(hours=3, minutes=5, seconds=10))
    set_ticket("garbage", status="assigned", sla_started_at=now - timedelta(minutes=10))


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(late_flood: None) -> AsyncIterator[str]:
    async with serve(crop_app()) as url:
        yield url


async def logged_in(page: Page, base_url: str, username: str) -> None:
    await page.goto(base_url + "/login")
    await log_in(page, username, PASSWORD)
    await expect(page).to_have_url(base_url + "/crop")


async def shot(page: Page, tmp_path: Path, name: str) -> Path:
    SHOTS.mkdir(exist_ok=True)
    path = tmp_path / f"{name}.png"
    await page.screenshot(path=path, full_page=True)
    (SHOTS / path.name).write_bytes(path.read_bytes())
    return path


async def test_the_overdue_view_counts_down_and_the_ticket_page_maps_the_point(
        page: Page, watch: Watch, base_url: str, tmp_path: Path) -> None:
    flood = ticket("flood")
    await page.clock.install(time=datetime.now(timezone.utc))  # the page's own clock, to move on below
    await page.add_init_script(LEAFLET_HOOK)
    await logged_in(page, base_url, "budi")
    await page.get_by_role("link", name="Lewat batas").click()
    await expect(page).to_have_url(base_url + "/crop?view=overdue")
    await expect(page.get_by_role("link", name="Lewat batas")).to_have_attribute("aria-current", "page")
    rows = page.locator("#queue tbody tr")
    await expect(rows).to_have_count(1)  # the garbage has 23 h 50 m left: not late
    countdown = rows.first.locator(".countdown")
    await expect(countdown).to_have_text("lewat 1 j 5 m")
    await expect(countdown).to_have_class("countdown late")
    assert await countdown.evaluate("e => getComputedStyle(e).color") == "rgb(176, 0, 32)"  # crop.css: late in red
    await shot(page, tmp_path, "overdue")
    # Left open, the queue keeps counting: half an hour later it says so, with no reload.
    await page.clock.fast_forward("30:00")
    await expect(countdown).to_have_text("lewat 1 j 35 m")

    async with page.expect_navigation():
        await rows.first.get_by_role("link", name=flood.public_id).click()
    await expect(page.locator("#sla .countdown")).to_have_text("lewat 1 j 35 m")
    await expect(page.locator("#sla")).to_contain_text("target respons pertama")
    drawn = await until(page, f"({TICKET_MAP_JS})()")
    assert drawn["point"] == [-6.2245, 106.866] and drawn["zoom"] == 13 and drawn["height"] >= 260
    assert abs(drawn["lat"] - -6.2245) < 1e-4 and abs(drawn["lon"] - 106.866) < 1e-4
    # Assigned, not taken: the actions its status allows (take it, work on it, resolve, reject, hand it back).
    offered = await page.locator("form.act select[name=action] option").evaluate_all("os => os.map(o => o.value)")
    assert offered == [v for v in crop.allowed_actions("assigned") if v in ACTIONS] and "take" in offered
    await shot(page, tmp_path, "ticket")
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_a_supervisor_sees_an_officer_sharing_a_live_location(page: Page, watch: Watch, base_url: str,
                                                                   redis_conn: redis.Redis, tmp_path: Path) -> None:
    deliver(redis_conn, update("live_location", 810001, datetime.now(timezone.utc) - timedelta(minutes=2)))
    await page.add_init_script(LEAFLET_HOOK)
    await logged_in(page, base_url, "sari")
    await page.get_by_role("link", name="Peta", exact=True).click()
    await expect(page.locator("#officer-count")).to_have_text("1 petugas sedang berbagi lokasi langsung.")
    await until(page, f"({SETTLED_JS})()")  # zoomed in on the tickets: the marker stays where it is clicked
    marker = page.locator("#map .officer-marker")
    await expect(marker).to_have_count(1)
    await marker.click()
    popup = page.locator("#map .leaflet-popup-content")
    await expect(popup).to_contain_text("Tono Lapangan (petugas)")
    await expect(popup).to_contain_text("Berbagi lokasi sampai")
    await until(page, f"({SETTLED_JS})()")  # the popup's pan has ended, and its fade-in
    await until(page, "() => getComputedStyle(document.querySelector('#map .leaflet-popup')).opacity === '1'")
    await shot(page, tmp_path, "officers-map")
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
