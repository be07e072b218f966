"""The officers' field view over real HTTP, on SQLite and PostgreSQL: the queue's "Tiket saya", "Wilayah saya" and
"Lewat batas" views, the SLA countdown (server-side, on the SLA clock, due times in WIB), and the ticket page's map
and countdown."""
from __future__ import annotations

import re
from pathlib import Path
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from store import db
from store.models import Officer
from tests.web.conftest import csrf_of, login, officer_with_login, report, ticket
from tests.web.test_dashboard import set_ticket, visible
from web import field, public, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    # Budi covers water (dsda) in Jakarta Timur; Sari is a supervisor. Both are on the roster before the reports,
    # so the flood goes to Budi (assigned: its SLA clock runs); the garbage (dlh) to nobody.
    officer_with_login("budi", "Budi PPSU", "7101")
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=10 * 1024 * 1024),
               site.Site(public.Config(tile_url="", tile_attribution=""), session_hours=1))
    async with TestClient(TestServer(app)) as c:
        yield c


def queue_ids(html: str) -> list[str]:
    """The tickets the queue lists, in its order."""
    return re.findall(r'<tr><td><a href="/crop/tickets/([^"]+)"', html)


def countdowns(html: str) -> list[tuple[str, str, str]]:
    """Every countdown on a page: (its classes, its data-due, its words)."""
    return re.findall(r'<span class="(countdown[^"]*)"(?: data-due="([^"]*)")?[^>]*>([^<]*)</span>', html)


def started(category: str, ago: timedelta, **columns: object) -> None:
    """Start the ticket's SLA clock `ago` less 30 s (so the whole minutes shown do not depend on the test's pace)."""
    set_ticket(category, sla_started_at=datetime.now(timezone.utc) - ago + timedelta(seconds=30), **columns)


def budi_id() -> int:
    with db.session() as s:
        return s.scalars(select(Officer.id).where(Officer.name == "Budi PPSU")).one()


def test_a_duration_reads_in_days_hours_and_minutes() -> None:
    assert field.span(3 * 3600 + 20 * 60 + 59) == "3 j 20 m"
    assert field.span(-(3600 + 5 * 60)) == "1 j 5 m"
    assert field.span(59) == "0 m" and field.span(25 * 60) == "25 m"
    assert field.span(2 * 86400 + 3 * 3600 + 120) == "2 hr 3 j"


async def test_mine_is_what_the_logged_in_officer_holds(client: TestClient) -> None:
    flood, garbage = ticket("flood"), ticket("garbage")
    await login(client)
    assert queue_ids(await (await client.get("/crop?view=mine")).text()) == []  # sent to him, not taken yet
    path = f"/crop/tickets/{flood.public_id}"
    await client.post(f"{path}/act", data={"action": "take", "csrf": await csrf_of(client, path)})
    assert ticket("flood").assigned_officer_id == budi_id()
    mine = await (await client.get("/crop?view=mine")).text()
    assert queue_ids(mine) == [flood.public_id] and garbage.public_id not in mine
    assert 'id="view-mine" href="/crop?view=mine" aria-current="page"' in mine
    # Another officer's "mine" is theirs: Sari holds nothing.
    await login(client, username="sari")
    assert queue_ids(await (await client.get("/crop?view=mine")).text()) == []


async def test_my_area_is_what_the_officer_covers_and_everything_for_a_supervisor(client: TestClient) -> None:
    flood, garbage = ticket("flood"), ticket("garbage")
    await login(client)
    # Budi: water (dsda) in Jakarta Timur; the garbage is the environment agency's.
    assert queue_ids(await (await client.get("/crop?view=area")).text()) == [flood.public_id]
    # The other filters still narrow a view, and the filter form keeps the view.
    narrowed = await (await client.get("/crop?view=area&category=garbage")).text()
    assert queue_ids(narrowed) == [] and '<input type="hidden" name="view" value="area">' in narrowed
    # A ticket filed before routing named agencies is its category's agency's.
    set_ticket("flood", agency=None)
    assert queue_ids(await (await client.get("/crop?view=area")).text()) == [flood.public_id]
    await login(client, username="sari")
    assert set(queue_ids(await (await client.get("/crop?view=area")).text())) == {flood.public_id, garbage.public_id}
    # An unknown view is the whole queue.
    assert set(queue_ids(await (await client.get("/crop?view=bogus")).text())) == {flood.public_id, garbage.public_id}


async def test_overdue_lists_the_late_latest_first_with_their_countdown(client: TestClient) -> None:
    flood, garbage = ticket("flood"), ticket("garbage")
    assert flood.status == "assigned" and flood.sla_started_at is not None  # the flood reached Budi: clock on
    await login(client)
    assert queue_ids(await (await client.get("/crop?view=overdue")).text()) == []
    # Flood: first response due 2 h after it reached officers; 3 h 5 m on: 1 h 5 m late.
    started("flood", timedelta(hours=3, minutes=5, seconds=30))
    # Garbage: default target, 24 h to respond; 25 h 10 m on, and 40 m paused: 30 m late.
    started("garbage", timedelta(hours=25, minutes=10, seconds=30), status="assigned", sla_paused_seconds=40 * 60.0)
    html = await (await client.get("/crop?view=overdue")).text()
    assert queue_ids(html) == [flood.public_id, garbage.public_id]  # the latest first
    shown = countdowns(html)
    assert [(classes, words) for classes, _, words in shown] == [("countdown late", "lewat 1 j 5 m"),
                                                                 ("countdown late", "lewat 30 m")]
    # The moment each fell due, in WIB (+07:00), for the page's script to count on from.
    due = datetime.fromisoformat(shown[0][1])
    assert shown[0][1].endswith("+07:00")
    assert abs((datetime.now(timezone.utc) - due) - timedelta(hours=1, minutes=5)) < timedelta(seconds=45)
    # Paused (waiting for the citizen), answered in time, or resolved: not late.
    set_ticket("garbage", sla_paused_at=datetime.now(timezone.utc))
    set_ticket("flood", first_response_at=datetime.now(timezone.utc))  # now it counts to resolution (24 h)
    assert queue_ids(await (await client.get("/crop?view=overdue")).text()) == []
    set_ticket("garbage", sla_paused_at=None, sla_paused_seconds=0.0, status="resolved")
    assert queue_ids(await (await client.get("/crop?view=overdue&status=all")).text()) == []


async def test_the_countdown_counts_to_the_next_target(client: TestClient) -> None:
    flood = ticket("flood")
    started("flood", timedelta(minutes=40))  # 2 h to respond: 1 h 20 m left
    await login(client)
    queue = await (await client.get("/crop")).text()
    row = next(r for r in re.findall(r"<tr>.*?</tr>", queue, re.S) if flood.public_id in r)
    assert [(c, w) for c, _, w in countdowns(row)] == [("countdown", "sisa 1 j 20 m")]
    garbage_row = next(r for r in re.findall(r"<tr>.*?</tr>", queue, re.S) if ticket("garbage").public_id in r)
    assert countdowns(garbage_row) == [] and '<td class="sla">-</td>' in garbage_row  # nobody has it: no clock
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert "Batas waktu sisa 1 j 20 m (target respons pertama)" in " ".join(visible(page).split())
    # Answered: the clock counts to the resolution (24 h from the start).
    set_ticket("flood", first_response_at=datetime.now(timezone.utc))
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert [w for _, _, w in countdowns(page)] == ["sisa 23 j 20 m"] and "target penyelesaian" in page
    # Waiting for the citizen: the clock is paused, and the page's script leaves it be (no data-due).
    set_ticket("flood", status="needs_info", sla_paused_at=datetime.now(timezone.utc))
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert countdowns(page) == [("countdown", "", "dijeda, sisa 23 j 20 m")]
    for status in ("resolved", "closed"):
        set_ticket("flood", status=status)
        assert countdowns(await (await client.get(f"/crop/tickets/{flood.public_id}")).text()) == []


async def test_the_ticket_page_has_a_map_of_its_point_and_no_inline_script(client: TestClient) -> None:
    flood = ticket("flood")
    await login(client)
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert 'id="ticket-map" data-lat="-6.224500" data-lon="106.866000"' in page
    assert f'data-bounds="{public.city_bounds()}"' in page and 'data-tiles=""' in page
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert [attrs.strip() for attrs, _ in scripts] == ['src="/static/countdown.js" defer',
                                                      'src="/static/vendor/leaflet/leaflet.js" defer',
                                                      'src="/static/basemap.js" defer',
                                                      'src="/static/ticket_map.js" defer']
    assert all(body == "" for _, body in scripts)
    for path in ("/static/countdown.js", "/static/ticket_map.js"):
        assert (await client.get(path)).status == 200
    # A ticket without a point has no map (nor its scripts).
    set_ticket("flood", lat=None, lon=None)
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert 'id="ticket-map"' not in page and "ticket_map.js" not in page


async def test_the_map_shows_a_view_too(client: TestClient) -> None:
    flood = ticket("flood")
    await login(client)
    response = await client.get("/crop/tickets.geojson?view=area")
    assert [f["properties"]["id"] for f in (await response.json(content_type=None))["features"]] == [flood.public_id]
    html = await (await client.get("/crop/map?view=area")).text()
    assert 'data-source="/crop/tickets.geojson?view=area"' in html and 'href="/crop?view=area"' in html
    assert "data-officers" not in html  # live locations are for supervisors


def test_the_countdown_script_writes_the_servers_words() -> None:
    source = (Path(field.__file__).parent / "static" / "countdown.js").read_text(encoding="utf-8")
    assert '"lewat " : "sisa "' in source and '" hr "' in source and '" j "' in source
    assert "innerHTML" not in source and "textContent" in source
