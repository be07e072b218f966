"""The public view over real HTTP, on SQLite and PostgreSQL: the page, the map's data and the statistics show
reports and response times, never who reported them; a report's markup is data, never markup."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address, Location, Media, Message, Sender
from nlp.gazetteer import gazetteer
from store import db, media, ops
from store.models import Citizen, Ticket
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
    # The script fits the view to a chosen kota/kecamatan or back to the city, never to the reports' extent.
    fits = re.findall(r"fitBounds\(([^,]+),", script)
    assert fits and all(f in ("page.bounds || map.crophubCity", "JSON.parse(element.dataset.areaBounds)")
                        for f in fits), fits
    assert "getBounds" not in script and "created_local" in script


# --- issue 20: filters, the list, Waze counted only, rankings, aliases ---------------------------------------------

def _set(category: str, **values: object) -> str:
    """Change the one ticket of `category`; → its public id."""
    with db.session() as s:
        t = s.scalars(select(Ticket).where(Ticket.category == category)).one()
        for key, value in values.items():
            setattr(t, key, value)
        s.commit()
        return t.public_id or ""


async def _ids(client: TestClient, query: str) -> tuple[list[str], list[str]]:
    """The ids the list and the map show for `query`."""
    listed = await client.get("/public/tickets.json?" + query)
    mapped = await client.get("/public/tickets.geojson?" + query)
    assert listed.status == 200 and mapped.status == 200, (await listed.text(), await mapped.text())
    return ([t["id"] for t in (await listed.json())["tickets"]],
            [f["properties"]["id"] for f in (await mapped.json())["features"]])


@pytest.mark.usefixtures("reports")
async def test_filters_narrow_the_map_and_the_list_alike(client: TestClient) -> None:
    page = await (await client.get("/public/tickets.json")).json()
    assert page["total"] == 3 and page["waze"] == 0 and page["bounds"] is None
    newest, *_ = page["tickets"]
    created = [t["created"] for t in page["tickets"]]
    assert created == sorted(created, reverse=True)  # newest first
    assert newest["url"] == f"/t/{newest['id']}" and newest["created_local"].endswith(" WIB")
    assert newest["area"] == "Kel. Cawang, Kec. Kramatjati, Jakarta Timur" and newest["status"] == "open"
    assert set(newest) == {"id", "category", "label", "status", "area", "created", "created_local", "url"}

    garbage = _set("garbage", status="resolved")
    listed, mapped = await _ids(client, "status=closed")
    assert listed == mapped == [garbage]
    listed, mapped = await _ids(client, "status=open&category=flood")
    assert len(listed) == 2 and sorted(listed) == sorted(mapped) and garbage not in listed
    listed, mapped = await _ids(client, "area=31.75.04")  # Kec. Kramatjati
    assert listed == mapped == [garbage]
    listed, _ = await _ids(client, "area=31.75")  # Jakarta Timur: all three
    assert len(listed) == 3
    assert (await _ids(client, "area=31.74")) == ([], [])  # Jakarta Selatan: none
    chosen = await (await client.get("/public/tickets.json?area=31.75.03")).json()
    (south, west), (north, east) = chosen["bounds"]  # Jatinegara's extent, for the map to fit
    assert south < -6.2331 < north and west < 106.866 < east and north - south < 0.1

    with db.session() as s:
        flood = s.scalars(select(Ticket).where(Ticket.category == "flood").order_by(Ticket.id)).first()
        assert flood is not None
        flood.created_at = datetime.now(timezone.utc) - timedelta(days=20)
        old = flood.public_id
        s.commit()
    listed, mapped = await _ids(client, "days=7")
    assert old not in listed and old not in mapped and len(listed) == 2
    assert old in (await _ids(client, "days=30"))[0]

    second = await (await client.get("/public/tickets.json?limit=1&offset=1")).json()
    assert second["total"] == 3 and len(second["tickets"]) == 1 and second["tickets"][0]["id"] == created_ids(page)[1]

    # The page draws the same list for the same query (no JavaScript needed), its filters chosen.
    html = await (await client.get("/?category=garbage")).text()
    assert f'data-id="{garbage}"' in html and html.count('class="report ') == 1
    assert '<option value="garbage" selected>' in html and 'data-query="category=garbage&amp;days=30"' in html


def created_ids(page: dict[str, Any]) -> list[str]:
    return [t["id"] for t in page["tickets"]]


@pytest.mark.parametrize(("query", "reason"), [
    ("days=0", "days must be a whole number from 1 to 365"), ("days=366", "days must be"), ("days=%D9%A3", "days"),
    ("days=-1", "days must be"), ("category=banjir", "category must be one of"), ("category=not_report", "category"),
    ("status=fixed", "status must be open or closed"), ("area=99.99", "area must be the code of a kota or kecamatan"),
    ("area=31.75.03.1001", "area must be"),  # a kelurahan: not a filter the page offers
])
async def test_a_bad_filter_is_refused_with_its_reason(client: TestClient, query: str, reason: str) -> None:
    for path in ("/public/tickets.geojson", "/public/tickets.json", "/"):
        response = await client.get(f"{path}?{query}")
        assert response.status == 400 and reason in await response.text(), (path, query)


@pytest.mark.parametrize(("path", "reason"), [
    ("/public/tickets.json?limit=0", "limit must be a whole number from 1 to 200"),
    ("/public/tickets.json?offset=x", "offset must be"), ("/public/stats.json?rank=fastest", "rank must be one of"),
    ("/?rank=fastest", "rank must be one of")])
async def test_bad_paging_or_ranking_is_refused(client: TestClient, path: str, reason: str) -> None:
    response = await client.get(path)
    assert response.status == 400 and reason in await response.text()


def _waze_tickets() -> tuple[str, str]:
    """A Waze jam no citizen joined and one a citizen joined (router/waze.py files them); → their public ids."""
    with db.session() as s:
        [citizen] = ops.upsert_citizens(s, [{"channel": "telegram", "external_id": "777", "display_name": None,
                                              "username": None, "language": "id"}]).values()
        made = ops.create_tickets(s, "JKT", [
            {"channel": "waze", "citizen_id": None, "category": "traffic", "text": "Jam: Jl. Otista Raya",
             "reply_address": {}, "lat": -6.2300, "lon": 106.8700, "kelurahan_kode": "31.75.03.1005",
             "kecamatan_kode": "31.75.03", "kab_kota_kode": "31.75"} for _ in range(2)])
        ops.add_reporters(s, [{"ticket_id": made[1][0], "citizen_id": citizen, "reply_address": {}, "language": "id"}])
        s.commit()
    return made[0][1], made[1][1]


@pytest.mark.usefixtures("reports")
async def test_waze_alerts_stay_off_the_map_and_list_and_are_counted(client: TestClient) -> None:
    feed_only, joined = _waze_tickets()
    listed, mapped = await _ids(client, "")
    assert feed_only not in listed and feed_only not in mapped
    assert joined in listed and joined in mapped  # a citizen's report too; Waze's words are not shown
    popup = next(f for f in (await (await client.get("/public/tickets.geojson")).json())["features"]
                 if f["properties"]["id"] == joined)
    assert popup["properties"]["text"] == ""
    page = await (await client.get("/public/tickets.json")).json()
    assert page["waze"] == 1 and page["total"] == 4
    assert (await (await client.get("/public/tickets.json?category=garbage")).json())["waze"] == 0
    html = await (await client.get("/")).text()
    assert "Otista" not in html and feed_only not in html
    assert re.search(r'<span id="waze-n">1</span>\s+laporan lalu lintas dari Waze', html)


def _reporter(session: Session, external_id: str, name: str, alias: str | None) -> int:
    citizen = Citizen(channel="telegram", external_id=external_id, display_name=name, username=name.lower(),
                      public_alias=alias)
    session.add(citizen)
    session.flush()
    return citizen.id


@pytest.mark.usefixtures("reports")
async def test_rankings_trends_and_only_opted_in_reporters(client: TestClient) -> None:
    with db.session() as s:
        tickets = s.scalars(select(Ticket).order_by(Ticket.id)).all()
        shy = _reporter(s, "801", "Siti Rahayu", None)
        keen = _reporter(s, "802", "Agus Wijaya", "Warga Tebet")
        ops.add_reporters(s, [{"ticket_id": t.id, "citizen_id": c, "reply_address": {}, "language": "id"}
                              for t in tickets for c in (shy, keen)])
        s.commit()
    data = await (await client.get("/public/stats.json?rank=response")).json()
    assert data["rank_by"] == "response" and data["top_reporters"] == [{"alias": "Warga Tebet", "reports": 3}]
    assert {a["code"] for a in data["agencies"]} and all(a["level"] == "agency" for a in data["agencies"])
    assert [p["code"] for p in data["trending_places"]] == []  # no kecamatan had 3 reports this week
    html = await (await client.get("/?rank=breaches")).text()
    assert "Warga Tebet" in html and "Siti" not in html and "Agus" not in html and 'id="agencies"' in html
    assert '<strong aria-current="true">lewat SLA</strong>' in html
    assert "Peringkat menurut bagian laporan yang lewat SLA" in html


async def test_waze_alerts_stay_off_the_open311_list_too(hub: str) -> None:
    feed_only, joined = _waze_tickets()
    app = make_app(lambda: {"redis": True})
    open311.setup(app, db.factory(), None, open311.Config("jakarta.go.id", {}))
    async with TestClient(TestServer(app)) as c:
        listed = await (await c.get("/open311/v2/requests.json")).json()
        assert [r["service_request_id"] for r in listed] == [joined]
        assert (await c.get(f"/open311/v2/requests/{feed_only}.json")).status == 404
