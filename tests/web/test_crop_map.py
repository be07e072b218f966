"""The officers' map (/crop/map) and its data (/crop/tickets.geojson) over real HTTP, on SQLite and PostgreSQL:
behind the login; the queue's filters; the whole report text, as a JSON string; a page with no inline script."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from store import db
from tests.web.conftest import login, officer_with_login, report, ticket
from web import crop_map, public, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

SCRIPT = "<script>alert(1)</script>"
PHONE = "0812-3456-7890"  # masked on the public page; officers see it


@pytest.fixture
async def client(hub: str) -> AsyncIterator[TestClient]:
    officer_with_login("budi", "Budi PPSU", "7101")
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    config = public.Config(tile_url="", tile_attribution="")  # no tiles: the outlines alone
    site.mount(app, sessions, None, Photos(sessions, max_bytes=10 * 1024 * 1024), site.Site(config, session_hours=1))
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", f"banjir 50 cm {SCRIPT} di jl jatinegara barat, hubungi {PHONE}", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


async def geojson(client: TestClient, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/crop/tickets.geojson{query}")
    assert response.status == 200 and response.content_type == "application/geo+json"
    return json.loads(await response.text())


def ids(collection: dict[str, Any]) -> list[str]:
    return [f["properties"]["id"] for f in collection["features"]]


async def test_the_map_and_its_data_need_a_login(client: TestClient) -> None:
    for path in ("/crop/map", "/crop/map?category=flood", "/crop/tickets.geojson"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.usefixtures("reports")
async def test_the_geojson_has_the_queue_tickets_with_their_whole_text(client: TestClient) -> None:
    await login(client)
    flood, garbage = ticket("flood"), ticket("garbage")
    data = await geojson(client)
    assert data["type"] == "FeatureCollection" and ids(data) == [garbage.public_id, flood.public_id]  # newest first
    point = next(f for f in data["features"] if f["properties"]["id"] == flood.public_id)
    assert point["geometry"] == {"type": "Point", "coordinates": [106.866, -6.2245]}
    props = point["properties"]
    assert (props["status"], props["area"], props["agency"]) == (
        flood.status, "Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur", "Dinas Sumber Daya Air")
    assert props["category"] == "banjir / genangan" and props["status_label"] == "baru, belum diteruskan"
    # ISO 8601 with the city's offset for programs; the popup's time in WIB.
    assert props["created"].endswith("+07:00") and props["created_local"].endswith(" WIB")
    # Officers see the whole text (the public page masks the phone number); it is data, a JSON string, not markup.
    assert props["text"] == f"banjir 50 cm {SCRIPT} di jl jatinegara barat, hubungi {PHONE}"
    assert ticket("flood").text == props["text"]


@pytest.mark.usefixtures("reports")
async def test_the_queue_filters_narrow_the_geojson(client: TestClient) -> None:
    await login(client)
    flood, garbage = ticket("flood"), ticket("garbage")
    assert ids(await geojson(client, "?category=garbage")) == [garbage.public_id]
    assert ids(await geojson(client, "?area=31.75.03")) == [flood.public_id]  # Jatinegara: the flood only
    assert ids(await geojson(client, "?agency=dsda")) == [flood.public_id]
    assert ids(await geojson(client, "?area=31.75.03&category=garbage")) == []
    assert ids(await geojson(client, "?status=closed")) == []
    assert ids(await geojson(client, f"?status={flood.status}&category=flood")) == [flood.public_id]
    # As on the queue, the same filters give the same tickets.
    queue = await (await client.get("/crop?agency=dsda")).text()
    assert flood.public_id in queue and garbage.public_id not in queue


@pytest.mark.usefixtures("reports")
async def test_the_map_page_carries_the_filters_and_no_inline_script(client: TestClient) -> None:
    await login(client)
    html = await (await client.get("/crop/map?category=flood&area=31.75")).text()
    assert 'data-source="/crop/tickets.geojson?area=31.75&amp;category=flood"' in html
    assert 'data-tiles=""' in html  # web.tile_url "" : the map draws the outlines only
    assert '<option value="flood" selected>' in html and 'value="31.75"' in html
    assert 'href="/crop?area=31.75&amp;category=flood"' in html  # back to the queue, filters kept
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert [attrs.strip() for attrs, _ in scripts] == ['src="/static/vendor/leaflet/leaflet.js" defer',
                                                      'src="/static/basemap.js" defer',
                                                      'src="/static/crop_map.js" defer']
    assert all(body == "" for _, body in scripts)  # no inline script: a strict Content-Security-Policy fits
    colours = json.loads(re.search(r'data-colours="([^"]+)"', html).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert colours == crop_map.STATUS_COLOURS and len(set(colours.values())) == len(colours)
    assert SCRIPT not in html and "hubungi" not in html  # the texts come from the geojson, not the page
    # The legend names the statuses as officers read them; the map opens on the city, not on the points.
    legend = re.findall(r"</svg> ([^<]+)</li>", html)
    assert "diteruskan, belum diambil" in legend and "assigned" not in legend and len(legend) == len(colours)
    assert f'data-bounds="{public.city_bounds()}"' in html
    assert (await client.get("/static/crop_map.js")).status == 200
    assert (await client.get("/static/basemap.js")).status == 200
    assert (await client.get("/public/areas.geojson")).status == 200  # the outlines the page draws without tiles
    # The queue links to the map with its filters, and every dashboard page to the map and the statistics.
    queue = await (await client.get("/crop?category=flood")).text()
    assert 'id="to-map" href="/crop/map?category=flood"' in queue
    assert 'href="/crop/map">Peta</a>' in queue and 'href="/crop/stats">Statistik</a>' in queue


def test_the_popup_script_sets_report_values_as_text_only() -> None:
    source = (Path(crop_map.__file__).parent / "static" / "crop_map.js").read_text(encoding="utf-8")
    assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "textContent" in source
    assert '"/crop/tickets/" + encodeURIComponent(props.id)' in source
