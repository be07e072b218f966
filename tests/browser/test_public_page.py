"""The public page in a real browser (headless Chromium), on SQLite and PostgreSQL: the map draws the kecamatan
outlines and the reports without any map tiles or other host (also when the shipped tile server cannot be reached),
and a report's popup shows its text as text (markup stays inert, phone numbers masked).

public.js keeps its Leaflet map in a closure; an init script (LEAFLET_HOOK) only records the map when Leaflet
creates it, so the test can count layers and find where a marker is drawn. The marker itself is clicked with the
mouse: the markers are on a canvas (preferCanvas), and Leaflet's own hit detection opens the popup.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis
from aiohttp import web
from playwright.async_api import expect
from sqlalchemy import select

from hub.settings import WebSettings
from nlp.gazetteer import gazetteer
from store import db
from store.models import Ticket
from tests.browser.conftest import Watch, serve, until
from tests.web.conftest import report
from web import public
from web.app import make_app

if TYPE_CHECKING:
    from playwright.async_api import Page, Route

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

SCRIPT = "<script>window.__pwned = 1</script>"
PHONE = "0812-3456-7890"

# Runs before the page's scripts: when leaflet.js sets window.L, every L.Map created afterwards is kept in
# window.__maps, and marks itself `_fitted` once the view a fitBounds call asked for is reached (the "moveend" that
# follows it: fitBounds animates the zoom from a later animation frame, so right after the call the map has not
# started moving). Nothing of the page's behaviour changes.
LEAFLET_HOOK = """(() => {
  window.__maps = [];
  let leaflet;
  Object.defineProperty(window, "L", {configurable: true, get() { return leaflet; }, set(value) {
    leaflet = value;
    if (value && value.Map) { value.Map.addInitHook(function () {
      window.__maps.push(this);
      const fitBounds = this.fitBounds;
      this.fitBounds = function () {
        this._fitted = false;
        this.once("moveend", () => { this._fitted = true; });
        return fitBounds.apply(this, arguments);
      };
    }); }
  }});
})();"""

OUTLINES_JS = """() => { const map = window.__maps[0]; let n = 0;
  if (map) { map.eachLayer(l => { if (l.feature && l.feature.properties.code) { n++; } }); }
  return n; }"""

# Once the reports are in and fitBounds has finished zooming: where each marker is, in page coordinates.
MARKERS_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  if (!map || !element.dataset.loaded || !map._fitted) { return null; }
  const box = map.getContainer().getBoundingClientRect(), markers = [];
  map.eachLayer(l => { if (l instanceof L.CircleMarker) {
    const p = map.latLngToContainerPoint(l.getLatLng());
    markers.push({x: box.left + p.x, y: box.top + p.y, text: l.feature.properties.text,
                  inside: map.getBounds().contains(l.getLatLng())}); } });
  return {loaded: Number(element.dataset.loaded), markers}; }"""

# Pixels drawn on the overlay canvas (outlines and markers): the map shows something without tiles.
PAINTED_JS = """() => { const canvas = document.querySelector("#map .leaflet-overlay-pane canvas");
  if (!canvas || !canvas.width) { return 0; }
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let n = 0; for (let i = 3; i < data.length; i += 4) { if (data[i]) { n++; } } return n; }"""


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", f"banjir 50 cm di jalan raya {SCRIPT} hubungi {PHONE}", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


def site(config: public.Config) -> web.Application:
    """The public part of `crophub web` (hub/cli.py cmd_web)."""
    app = make_app(lambda: {"redis": True}, tile_url=config.tile_url)
    public.setup(app, db.factory(), config)
    return app


@pytest_asyncio.fixture(loop_scope="session")  # the server must run in the loop the test and browser run in
async def base_url(hub: str, reports: None) -> AsyncIterator[str]:
    async with serve(site(public.Config(tile_url="", min_count=1))) as url:
        yield url


def kecamatan_count() -> int:
    """How many outlines the map draws: one per kecamatan of the gazetteer."""
    return sum(1 for a in gazetteer().areas.values() if a.level == "kecamatan")


async def markers(page: Page) -> dict:
    return await until(page, MARKERS_JS)  # type: ignore[no-any-return]


async def test_the_map_shows_outlines_and_reports_and_the_popup_shows_text(page: Page, watch: Watch,
                                                                          base_url: str) -> None:
    await page.add_init_script(LEAFLET_HOOK)
    kecamatan = kecamatan_count()

    # The reports are drawn over the outlines when the outlines arrive first, as they do almost always (the
    # reverse order is test_a_marker_under_late_outlines_still_opens_its_popup): this makes that order certain.
    async def after_outlines(route: Route) -> None:
        try:
            await until(page, f"({OUTLINES_JS})() === {kecamatan}")
        finally:
            await route.continue_()

    await page.route("**/public/tickets.geojson*", after_outlines)
    response = await page.goto(base_url + "/")
    assert response is not None and response.status == 200

    drawn = await markers(page)
    assert drawn["loaded"] == 2 and len(drawn["markers"]) == 2 and all(m["inside"] for m in drawn["markers"])
    assert await page.evaluate(OUTLINES_JS) == kecamatan
    await until(page, f"({PAINTED_JS})() > 1000")
    assert await page.locator("#map .leaflet-tile").count() == 0

    flood = next(m for m in drawn["markers"] if "banjir" in m["text"])
    await page.mouse.click(flood["x"], flood["y"])
    text = page.locator("#map .leaflet-popup-content .popup-text")
    await expect(text).to_be_visible()
    shown = await text.inner_text()
    assert SCRIPT in shown and "[telepon]" in shown and PHONE not in shown
    assert await page.locator("#map .leaflet-popup-content script").count() == 0
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert PHONE not in await page.content()

    assert not watch.errors, watch.errors
    assert not watch.blocked, f"requests to other hosts: {watch.blocked}"
    assert any(u.startswith(base_url + "/public/areas.geojson") for u in watch.requests)


@pytest.mark.usefixtures("reports")
async def test_the_map_reads_when_the_tile_server_cannot_be_reached(page: Page, watch: Watch) -> None:
    # As `make run` gives it: the shipped tile server (OpenStreetMap's, config.yaml web.tile_url), here out of reach.
    tiles = WebSettings().tile_url
    await page.add_init_script(LEAFLET_HOOK)
    kecamatan = kecamatan_count()
    async with serve(site(public.Config(tile_url=tiles, min_count=1))) as url:
        await page.goto(url + "/")
        drawn = await markers(page)
        await until(page, f"({OUTLINES_JS})() === {kecamatan}")
        await until(page, f"({PAINTED_JS})() > 1000")
    assert len(drawn["markers"]) == 2 and all(m["inside"] for m in drawn["markers"])
    tile_host = urlsplit(tiles).hostname
    assert watch.blocked and all(urlsplit(u).hostname == tile_host for u in watch.blocked), watch.blocked
    # The only complaints are the tiles' failed loads, and no script fails.
    assert all("ERR_BLOCKED_BY_CLIENT" in e for e in watch.errors), watch.errors


async def test_a_marker_under_late_outlines_still_opens_its_popup(page: Page, base_url: str) -> None:
    await page.add_init_script(LEAFLET_HOOK)

    async def after_reports(route: Route) -> None:
        try:
            await page.wait_for_selector("#map[data-loaded]", state="attached")
        finally:
            await route.continue_()

    await page.route("**/public/areas.geojson", after_reports)
    await page.goto(base_url + "/")
    drawn = await markers(page)
    await until(page, f"({OUTLINES_JS})() > 0")
    await asyncio.sleep(0.1)  # the outlines' canvas redraw (one animation frame)
    flood = next(m for m in drawn["markers"] if "banjir" in m["text"])
    await page.mouse.click(flood["x"], flood["y"])
    await expect(page.locator("#map .leaflet-popup-content .popup-text")).to_be_visible(timeout=1000)


# The map's view, once the reports are in: its bounds and zoom.
VIEW_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  if (!map || !element.dataset.loaded || !map._fitted) { return null; }
  const b = map.getBounds();
  return {loaded: Number(element.dataset.loaded), zoom: map.getZoom(),
          south: b.getSouth(), north: b.getNorth(), west: b.getWest(), east: b.getEast()}; }"""


async def test_the_map_opens_on_jakarta_whatever_reports_lie_far_away(page: Page, base_url: str) -> None:
    # An old report placed in Surabaya (before reports outside the city were refused): on the map's data, yet the
    # map must not zoom out to show it.
    with db.session() as s:
        far = s.scalars(select(Ticket).where(Ticket.category == "garbage")).one()
        far.lat, far.lon = -7.2575, 112.7521
        s.commit()
    await page.add_init_script(LEAFLET_HOOK)
    await page.goto(base_url + "/")
    await until(page, VIEW_JS)
    await asyncio.sleep(0.3)  # had the page fitted the reports, that would be after they are read: give it time
    view = await page.evaluate(VIEW_JS)
    assert view["loaded"] == 2 and view["zoom"] >= 10, view
    # Mainland Jakarta is in view, Surabaya (and Java's breadth) is not.
    assert view["south"] < -6.36 and view["north"] > -6.09 and view["west"] < 106.69 and view["east"] > 106.97, view
    assert view["east"] < 108 and view["south"] > -6.8, view
