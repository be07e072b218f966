"""The public view over real HTTP, on SQLite and PostgreSQL: the page, the map's data and the statistics show
reports and response times, never who reported them; a report's markup is data, never markup."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address, Location, Media, Message, Sender
from nlp.gazetteer import gazetteer
from store import db, media
from store.models import Ticket
from tests.web.conftest import report, work
from web import open311, public
from web.app import make_app

pytestmark = pytest.mark.usefixtures("hub")

PERSONAL = ("Budi Santoso", "budisan", "5550001", "0812-3456-7890", "budi.s@example.com")


@pytest.fixture
async def client(hub: str) -> AsyncIterator[TestClient]:
    app = make_app(lambda: {"redis": True})
    public.setup(app, db.factory(), public.Config(tile_url="", min_count=2))
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", "banjir 50 cm <script>alert(1)</script> hubungi 0812-3456-7890 budi.s@example.com",
           -6.2245, 106.8660)
    report(redis_conn, "tg-2", "genangan air di depan sekolah, tinggi 30 cm", -6.2331, 106.8745)  # 1.3 km on
    report(redis_conn, "tg-3", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


@pytest.mark.usefixtures("reports")
async def test_the_page_shows_areas_and_trends_and_nobody(client: TestClient) -> None:
    response = await client.get("/")
    html = await response.text()
    assert response.status == 200 and response.content_type == "text/html"
    assert '<script src="/static/vendor/leaflet/leaflet.js' in html and 'id="kecamatan"' in html
    assert "Jatinegara" in html and "banjir / genangan" in html  # the area table and the trending categories
    assert not [p for p in PERSONAL if p in html] and "alert(1)" not in html
    leaflet = await client.get("/static/vendor/leaflet/leaflet.js")
    assert leaflet.status == 200 and "Leaflet" in (await leaflet.text())[:300]


@pytest.mark.usefixtures("reports")
async def test_the_map_data_is_points_with_masked_texts(client: TestClient) -> None:
    response = await client.get("/public/tickets.geojson")
    assert response.status == 200 and response.content_type == "application/geo+json"
    data = await response.json()
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 3
    flood = next(f for f in data["features"] if "alert" in f["properties"]["text"])
    assert flood["properties"]["status"] == "open" and flood["properties"]["category"] == "flood"
    assert "[telepon]" in flood["properties"]["text"] and "[email]" in flood["properties"]["text"]
    assert flood["geometry"]["coordinates"] == [106.866, -6.2245]
    # Names, not codes; ISO 8601 with the city's offset for programs, and the popup's words in WIB.
    assert flood["properties"]["area"] == "Kel. Kampung Melayu, Kec. Jatinegara, Jakarta Timur"
    assert flood["properties"]["created"].endswith("+07:00") and flood["properties"]["created_local"].endswith(" WIB")
    assert not [p for p in PERSONAL if p in json.dumps(data)]
    only = await (await client.get("/public/tickets.geojson?category=garbage&days=7")).json()
    assert [f["properties"]["category"] for f in only["features"]] == ["garbage"]
    assert (await client.get("/public/tickets.geojson?days=lots")).status == 400


async def test_the_outlines_cover_every_kecamatan_without_tiles(client: TestClient) -> None:
    data = await (await client.get("/public/areas.geojson")).json()
    kecamatan = {a.kode for a in gazetteer().areas.values() if a.level == "kecamatan"}
    assert {f["properties"]["code"] for f in data["features"]} == kecamatan
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in data["features"])


@pytest.mark.usefixtures("reports")
async def test_statistics_rank_only_areas_with_enough_reports(client: TestClient) -> None:
    stats = await (await client.get("/public/stats.json")).json()
    assert stats["min_count"] == 2 and stats["since"].endswith("+07:00")
    by_code = {s["code"]: s for s in stats["kecamatan"]}
    assert by_code["31.75.03"]["tickets"] == 2 and by_code["31.75.03"]["rank"] == 1  # Jatinegara: two floods
    assert all(s["rank"] is None for s in stats["kecamatan"] if s["tickets"] < 2)
    assert stats["trending"][0]["category"] in ("flood", "garbage")
    assert not [p for p in PERSONAL if p in json.dumps(stats)]


def web_chat_report_with_photo(conn: redis.Redis, photo: bytes) -> str:
    """A web chat report carrying a photo kept here; → its ticket's public id."""
    ref, photo = media.prepare(photo, 1024 * 1024)
    msg = Message(channel="web", key="chat-1:m-000001", sender=Sender(id="chat-1"),
                  address=Address(channel="web", chat_id="chat-1"), text="jalan berlubang di jl jatinegara barat",
                  location=Location(lat=-6.2245, lon=106.8660), media=[Media(kind="photo", file_id=ref)],
                  blobs={ref: photo}, received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)
    with db.session() as s:
        return s.scalars(select(Ticket.public_id)).one()


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"lubang" * 20 + b"\xff\xd9"


async def test_report_photos_stay_private_unless_the_city_publishes_them(client: TestClient,
                                                                       redis_conn: redis.Redis) -> None:
    public_id = web_chat_report_with_photo(redis_conn, JPEG)
    [feature] = (await (await client.get("/public/tickets.geojson")).json())["features"]
    assert feature["properties"]["photo"] is None
    assert (await client.get(f"/public/photos/{public_id}")).status == 404
    # A city that publishes them: the map's popup links the photo, and the API's media_url is absolute.
    app = make_app(lambda: {"redis": True}, proxy_hops=1)  # behind one proxy (web.proxy_hops)
    public.setup(app, db.factory(), public.Config(tile_url="", public_photos=True))
    open311.setup(app, db.factory(), None, open311.Config("jakarta.go.id", {}, public_photos=True))
    async with TestClient(TestServer(app)) as published:
        [feature] = (await (await published.get("/public/tickets.geojson")).json())["features"]
        assert feature["properties"]["photo"] == f"/public/photos/{public_id}"
        photo = await published.get(feature["properties"]["photo"])
        assert photo.status == 200 and await photo.read() == JPEG and photo.content_type == "image/jpeg"
        [shown] = await (await published.get(f"/open311/v2/requests/{public_id}.json")).json()
        assert shown["media_url"] == str(published.make_url(f"/public/photos/{public_id}"))
        # Through the proxy the link is the public site's, not the app's own address.
        [shown] = await (await published.get(f"/open311/v2/requests/{public_id}.json", headers={
            "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "lapor.jakarta.go.id"})).json()
        assert shown["media_url"] == f"https://lapor.jakarta.go.id/public/photos/{public_id}"
        assert (await published.get("/public/photos/JKT-2026-999999")).status == 404


async def test_pages_forbid_scripts_from_anywhere_else(hub: str) -> None:
    app = make_app(lambda: {"redis": True}, tile_url="https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png")
    public.setup(app, db.factory(), public.Config())
    async with TestClient(TestServer(app)) as c:
        page = await c.get("/")
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert "img-src 'self' data: blob: https://*.tile.openstreetmap.org;" in policy
        assert "frame-ancestors 'none'" in policy and page.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in (await c.get("/public/stats.json")).headers  # pages only


async def test_the_map_opens_on_the_city_not_on_the_reports(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    bounds = json.loads(re.search(r'data-bounds="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    (south, west), (north, east) = bounds
    # Mainland Jakarta (about 6.37 to 6.09 south, 106.69 to 106.97 east): not Kepulauan Seribu's islands 100 km
    # north, and not wherever the reports are (the page is drawn before any report is read).
    assert -6.40 < south < -6.35 and -6.10 < north < -6.05 and 106.65 < west < 106.70 and 106.95 < east < 107.0
    assert re.search(r'<time id="updated">\d+ \w+ \d{4} \d\d:\d\d WIB</time>', html)
    script = (await (await client.get("/static/public.js")).text())
    assert "fitBounds" not in script and "created_local" in script
