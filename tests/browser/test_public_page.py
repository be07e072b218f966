"""The public page in a real browser (headless Chromium), on SQLite and PostgreSQL: the map draws the kecamatan
outlines and the reports without any map tiles or other host (also when the shipped tile server cannot be reached),
and a report's popup shows its text as text (markup stays inert, phone numbers masked).

public.js keeps its Leaflet map in a closure; an init script (LEAFLET_HOOK) only records the map when Leaflet
creates it, so the test can count layers and find where a marker is drawn. The marker itself is clicked with the
mouse: the markers are on a canvas (preferCanvas), and Leaflet's own hit detection opens the popup.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
import redis
from aiohttp import web
from playwright.async_api import expect
from rq import Queue
from sqlalchemy import select

from hub.settings import WebSettings
from ingest.intake import INTAKE_QUEUE, Intake
from nlp.gazetteer import gazetteer
from store import db, ops
from store.models import Ticket
from tests.browser.conftest import Watch, serve, until
from tests.web.conftest import report
from web import chat, public
from web.app import make_app
from web.media import Photos

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

# Once the reports are in and fitBounds has finished zooming: where each report's marker is, in page coordinates,
# whether it is drawn on its own (not inside a cluster), and how many cluster icons the map shows.
MARKERS_JS = """() => { const map = window.__maps[0], element = document.getElementById("map");
  if (!map || !element.dataset.loaded || !map._fitted) { return null; }
  let group = null; map.eachLayer(l => { if (l instanceof L.MarkerClusterGroup) { group = l; } });
  if (!group) { return null; }
  const box = map.getContainer().getBoundingClientRect(), markers = [];
  group.getLayers().forEach(l => { const p = map.latLngToContainerPoint(l.getLatLng());
    markers.push({id: l.feature.properties.id, x: box.left + p.x, y: box.top + p.y, text: l.feature.properties.text,
                  shown: map.hasLayer(l), inside: map.getBounds().contains(l.getLatLng())}); });
  return {loaded: Number(element.dataset.loaded), query: element.dataset.query, markers,
          clusters: Array.from(document.querySelectorAll("#map .marker-cluster")).map(c => c.textContent.trim())}; }"""

# Zooms until the marker whose text holds `text` is out of its cluster (as clicking the clusters would), then waits
# a frame for the canvas; → where it is drawn.
REVEAL_JS = """(text) => new Promise(done => { const map = window.__maps[0]; let group = null;
  map.eachLayer(l => { if (l instanceof L.MarkerClusterGroup) { group = l; } });
  const marker = group.getLayers().find(l => l.feature.properties.text.includes(text));
  group.zoomToShowLayer(marker, () => requestAnimationFrame(() => setTimeout(() => {
    const box = map.getContainer().getBoundingClientRect(), p = map.latLngToContainerPoint(marker.getLatLng());
    done({x: box.left + p.x, y: box.top + p.y}); }, 50))); })"""

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

    flood = await page.evaluate(REVEAL_JS, "banjir")
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
    assert len(drawn["markers"]) == 2
    flood = await page.evaluate(REVEAL_JS, "banjir")
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


# --- issue 20: filters drive the list and the markers; clusters; a 360-px phone; the chat's input in view ----------

PHONE_VIEW = {"width": 360, "height": 740}
NO_SIDEWAYS_JS = "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"


def shot(name: str) -> str | None:
    """Where to save a screenshot to look at (CROPHUB_TEST_SHOTS=<folder>), or None."""
    folder = os.environ.get("CROPHUB_TEST_SHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / name)


def waze_jam() -> str:
    """A traffic jam the Waze feed filed (router/waze.py), which no citizen joined; → its public id."""
    with db.session() as s:
        [(_, public_id)] = ops.create_tickets(s, "JKT", [{
            "channel": "waze", "citizen_id": None, "category": "traffic", "text": "Jam: Jl. Otista Raya",
            "reply_address": {}, "lat": -6.2300, "lon": 106.8700, "kelurahan_kode": "31.75.03.1005",
            "kecamatan_kode": "31.75.03", "kab_kota_kode": "31.75"}])
        s.commit()
    return public_id


def ids(category: str) -> str:
    with db.session() as s:
        return s.scalars(select(Ticket.public_id).where(Ticket.category == category)).one() or ""


LIST_JS = """() => { const list = document.getElementById("reports");
  return {query: list.dataset.query, ids: Array.from(list.querySelectorAll("li")).map(li => li.dataset.id),
          links: Array.from(list.querySelectorAll("li a")).map(a => a.getAttribute("href"))}; }"""


async def test_filters_change_the_list_and_the_markers(page: Page, watch: Watch, base_url: str) -> None:
    jam = waze_jam()
    flood, garbage = ids("flood"), ids("garbage")
    await page.add_init_script(LEAFLET_HOOK)
    await page.goto(base_url + "/")
    drawn = await markers(page)
    city_zoom = await page.evaluate("window.__maps[0].getZoom()")
    assert sorted(m["id"] for m in drawn["markers"]) == sorted([flood, garbage])  # the Waze jam is not drawn
    shown = await page.evaluate(LIST_JS)
    assert shown["ids"] == [garbage, flood] and shown["links"] == [f"/t/{garbage}", f"/t/{flood}"]  # newest first
    await expect(page.locator("#waze-count")).to_be_visible()  # counted, not shown
    await expect(page.locator("#waze-count")).to_contain_text("1 laporan lalu lintas dari Waze")
    assert jam not in await page.content()

    await page.select_option("select[name=category]", "garbage")
    await until(page, "() => document.getElementById('reports').dataset.query === 'category=garbage&days=30'")
    drawn = await until(page, f"() => {{ const d = ({MARKERS_JS})(); return d && d.query.includes('garbage') && d; }}")
    assert [m["id"] for m in drawn["markers"]] == [garbage] and drawn["loaded"] == 1
    assert (await page.evaluate(LIST_JS))["ids"] == [garbage]
    assert page.url.endswith("/?category=garbage&days=30")  # a reload or a shared link shows the same
    await expect(page.locator("#waze-count")).to_be_hidden()  # no Waze report of that category
    await expect(page.locator("#list-total")).to_have_text("1")

    await page.select_option("select[name=category]", "")
    await page.select_option("select[name=area]", "31.75.03")  # Kec. Jatinegara: the flood (and the Waze jam)
    await until(page, "() => document.getElementById('reports').dataset.query === 'area=31.75.03&days=30'")
    assert (await page.evaluate(LIST_JS))["ids"] == [flood]
    drawn = await until(page, f"() => {{ const d = ({MARKERS_JS})(); return d && d.query.includes('area') && d; }}")
    assert [m["id"] for m in drawn["markers"]] == [flood]
    assert await page.evaluate("window.__maps[0].getZoom()") > city_zoom  # fitted to the kecamatan
    await expect(page.locator("#waze-count")).to_contain_text("1 laporan")

    await page.select_option("select[name=status]", "closed")
    await until(page, "() => document.getElementById('reports').dataset.query.startsWith('status=closed')")
    await expect(page.locator("#list-empty")).to_be_visible()
    assert (await page.evaluate(LIST_JS))["ids"] == []
    # The link from the list leads to the report's page (web/ticket_page.py).
    await page.select_option("select[name=status]", "")
    await until(page, "() => document.querySelectorAll('#reports li').length === 1")
    assert await page.locator("#reports li a").get_attribute("href") == f"/t/{flood}"
    if path := shot("public_filtered.png"):
        await page.screenshot(path=path, full_page=True)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_nearby_reports_cluster_and_split_when_the_cluster_is_clicked(page: Page, base_url: str) -> None:
    await page.add_init_script(LEAFLET_HOOK)
    await page.set_viewport_size({"width": 800, "height": 700})  # the city's view: 2.8 km apart is a few pixels
    await page.goto(base_url + "/")
    drawn = await markers(page)
    assert drawn["clusters"] == ["2"] and not any(m["shown"] for m in drawn["markers"]), drawn
    await page.locator("#map .marker-cluster").click()
    shown = await until(page, f"() => {{ const d = ({MARKERS_JS})(); "
                              "return d && d.markers.every(m => m.shown) && !d.clusters.length && d; }")
    assert all(m["inside"] for m in shown["markers"])


async def test_the_public_page_fits_a_360_px_phone(page: Page, watch: Watch, base_url: str) -> None:
    await page.set_viewport_size(PHONE_VIEW)
    await page.add_init_script(LEAFLET_HOOK)
    await page.goto(base_url + "/")
    await markers(page)
    scroll, client = await page.evaluate(NO_SIDEWAYS_JS)
    assert scroll <= PHONE_VIEW["width"] and client == PHONE_VIEW["width"], (scroll, client)
    # The tables read as cards: every figure beside its column's name, within the screen.
    row = page.locator("#kecamatan tbody tr").first
    box = await row.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_VIEW["width"]
    labels = await row.evaluate("r => Array.from(r.cells).map(c => getComputedStyle(c, '::before').content)")
    assert labels[0] == '"Peringkat"' and labels[4] == '"Respons pertama (median / p90, jam)"', labels
    map_box = await page.locator("#map").bounding_box()
    list_box = await page.locator(".report-list").bounding_box()
    assert map_box and list_box and list_box["y"] >= map_box["y"] + map_box["height"]  # the list under the map
    if path := shot("public_360.png"):
        await page.screenshot(path=path, full_page=True)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


@pytest_asyncio.fixture(loop_scope="session")
async def chat_url(redis_conn: redis.Redis) -> AsyncIterator[str]:
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    async with serve(app) as url:
        yield url


# The input and the send button, each wholly inside the viewport.
INPUT_IN_VIEW_JS = """() => ["chat-text", "chat-send"].every(id => { const r = document.getElementById(id)
  .getBoundingClientRect(); return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth; })"""


async def test_the_chat_fits_a_360_px_phone_and_its_input_stays_in_view(page: Page, watch: Watch,
                                                                       chat_url: str) -> None:
    await page.set_viewport_size(PHONE_VIEW)
    await page.goto(chat_url + "/chat")
    await page.get_by_label("Pesan").fill("sampah menumpuk di depan pasar " + "x" * 120)  # a long unbroken word
    await page.get_by_role("button", name="Kirim").click()
    await expect(page.locator("#messages .msg-me")).to_have_class("msg msg-me")
    assert await page.evaluate(INPUT_IN_VIEW_JS)
    # A long conversation: the messages scroll in their box, the input stays where the thumb is.
    for n in range(2, 16):
        await page.get_by_label("Pesan").fill(f"pesan ke-{n}")
        await page.get_by_label("Pesan").press("Enter")
    await expect(page.locator("#messages .msg-me")).to_have_count(15)
    await expect(page.locator("#messages .msg-me.pending")).to_have_count(0)
    assert await page.evaluate(INPUT_IN_VIEW_JS)
    box = await page.evaluate("() => { const c = document.getElementById('chat'); "
                              "return [c.scrollHeight, c.clientHeight, c.scrollTop]; }")
    assert box[0] > box[1] and box[2] + box[1] >= box[0] - 2, box  # it scrolls, and shows the newest message
    await expect(page.locator("#messages .msg-me").last).to_be_in_viewport()
    scroll, client = await page.evaluate(NO_SIDEWAYS_JS)
    assert scroll <= PHONE_VIEW["width"], (scroll, client)
    assert await page.evaluate("document.documentElement.scrollHeight <= innerHeight")  # the page itself does not
    if path := shot("chat_360.png"):
        await page.screenshot(path=path)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
