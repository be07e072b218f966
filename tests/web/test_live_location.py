"""Officers' live locations end to end, on SQLite and PostgreSQL: Telegram updates (the fixtures' shapes, their times
moved to now) through the intake and pipeline, kept as the officer's last position, shown to supervisors on the
officers' map data while shared and gone after its live period or its stop; never to other officers, never on a
public page or API; a citizen's later positions are not reports."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import func, select

from bots.telegram.parse import parse_update
from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Message
from store import db
from store.models import InboundMessage, OfficerPosition, Outbox, Ticket
from tests.conftest import fixture
from tests.web.conftest import login, officer_with_login, report, work
from web import open311, public, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

BOT = "123456789"
OFFICER_TG = "88120001"  # the fixtures' sender
OPEN311_KEY = "k3y-portal-0123456789"


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    officer_with_login("tono", "Tono Lapangan", OFFICER_TG)
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=10 * 1024 * 1024),
               site.Site(public.Config(tile_url="", tile_attribution=""), session_hours=1,
                         open311=open311.Config("jakarta.go.id", {OPEN311_KEY: "portal"})))
    async with TestClient(TestServer(app)) as c:
        yield c


def update(name: str, update_id: int, sent: datetime, edited: datetime | None = None,
           sender: str = OFFICER_TG) -> dict[str, Any]:
    """A Telegram fixture with its own update id, its message's date at `sent` and its edit at `edited`."""
    raw = copy.deepcopy(fixture("telegram", name))
    raw["update_id"] = update_id
    body = raw.get("message") or raw["edited_message"]
    body["date"] = int(sent.timestamp())
    if edited is not None:
        body["edit_date"] = int(edited.timestamp())
    body["from"]["id"] = body["chat"]["id"] = int(sender)
    return raw


def deliver(conn: redis.Redis, *raws: dict[str, Any]) -> None:
    """Telegram updates through the parser, the intake and a worker, as the poller hands them over."""
    messages = [parse_update(raw, BOT) for raw in raws]
    assert all(isinstance(m, Message) for m in messages), messages
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch(messages))  # type: ignore[arg-type]
    work(conn)


async def live(client: TestClient) -> list[dict[str, Any]]:
    """The officers' live positions, as a logged-in supervisor's map fetches them."""
    response = await client.get("/crop/officers.geojson")
    assert response.status == 200 and response.content_type == "application/geo+json"
    return list((await response.json(content_type=None))["features"])


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


async def test_a_shared_live_location_is_shown_to_supervisors_until_it_is_stopped(
        client: TestClient, redis_conn: redis.Redis) -> None:
    start = now() - timedelta(minutes=5)
    deliver(redis_conn, update("live_location", 800001, start))
    with db.session() as s:
        position = s.scalars(select(OfficerPosition)).one()
        assert (position.lat, position.lon) == (-6.231912, 106.874303)
        assert position.live_until == start + timedelta(hours=1) and position.at == start
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0  # an officer's location is not a report
        told = s.scalars(select(Outbox.text).where(Outbox.address["chat_id"].as_string() == OFFICER_TG)).all()
    assert len(told) == 1 and "Lokasi langsung Anda terlihat oleh supervisor" in told[0] and "WIB" in told[0]
    await login(client, username="sari")
    shown = await live(client)
    assert [f["properties"]["name"] for f in shown] == ["Tono Lapangan"]
    assert shown[0]["geometry"] == {"type": "Point", "coordinates": [106.874303, -6.231912]}
    assert shown[0]["properties"]["until"].endswith("+07:00") and shown[0]["properties"]["at_local"].endswith("WIB")
    map_page = await (await client.get("/crop/map")).text()
    assert 'data-officers="/crop/officers.geojson"' in map_page and 'id="officer-count"' in map_page

    # Each new position moves it, silently; one older than the last kept is dropped (updates may come late).
    deliver(redis_conn, update("live_location_update", 800002, start, start + timedelta(minutes=4)))
    late = update("live_location_update", 800003, start, start + timedelta(minutes=2))
    late["edited_message"]["location"] = {"latitude": -6.3, "longitude": 106.9, "live_period": 3600}
    deliver(redis_conn, late)
    shown = await live(client)
    assert shown[0]["geometry"]["coordinates"] == [106.876051, -6.23277]
    with db.session() as s:
        assert len(s.scalars(select(Outbox).where(Outbox.address["chat_id"].as_string() == OFFICER_TG)).all()) == 1

    # Stopped: gone from the map at once.
    deliver(redis_conn, update("live_location_stop", 800004, start, start + timedelta(minutes=4, seconds=30)))
    assert await live(client) == []
    with db.session() as s:
        assert s.scalars(select(OfficerPosition)).one().live_until == start + timedelta(minutes=4, seconds=30)
        assert s.scalar(select(func.count()).select_from(Ticket)) == 0
        assert {i.status for i in s.scalars(select(InboundMessage))} == {"processed"}


async def test_a_live_location_is_gone_when_its_live_period_is_over(client: TestClient, redis_conn: redis.Redis) -> None:
    # Shared for an hour, an hour and a half ago: over, though it was never stopped.
    deliver(redis_conn, update("live_location", 800011, now() - timedelta(minutes=90)))
    await login(client, username="sari")
    assert await live(client) == []
    deliver(redis_conn, update("live_location", 800012, now() - timedelta(minutes=1)))  # shared again
    assert len(await live(client)) == 1


async def test_only_supervisors_see_live_locations_and_never_the_public(client: TestClient,
                                                                       redis_conn: redis.Redis) -> None:
    deliver(redis_conn, update("live_location", 800021, now() - timedelta(minutes=1)))
    with db.session() as s:
        assert s.scalars(select(OfficerPosition)).one().live_until > now()  # shared now: only who sees it matters
    report(redis_conn, "tg-report", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)
    officer_with_login("budi", "Budi PPSU", "7101")
    await login(client, username="budi")
    assert (await client.get("/crop/officers.geojson")).status == 403
    assert "data-officers" not in await (await client.get("/crop/map")).text()
    await client.post("/logout", data={"csrf": ""}, allow_redirects=False)
    client.session.cookie_jar.clear()
    assert (await client.get("/crop/officers.geojson", allow_redirects=False)).status == 302  # to the login
    # Every public page and API: neither the officer nor where they are.
    for path in ("/", "/public/tickets.geojson", "/public/tickets.json", "/public/stats.json",
                 f"/open311/v2/requests.json?api_key={OPEN311_KEY}", "/open311/v2/services.json"):
        response = await client.get(path)
        assert response.status == 200, path
        body = await response.text()
        for secret in ("Tono", "6.2319", "106.8743", "6.23277", "106.87605", "officers.geojson"):
            assert secret not in body, (path, secret)
    assert json.loads(await (await client.get("/public/tickets.json")).text())  # the report itself is public


async def test_a_citizens_live_location_places_their_report_and_its_updates_are_ignored(
        client: TestClient, redis_conn: redis.Redis) -> None:
    citizen = "52710031"
    start = now() - timedelta(minutes=1)
    report_text = {"update_id": 800030, "message": {
        "message_id": 3000, "date": int(start.timestamp()), "text": "banjir 50 cm di sini",
        "from": {"id": int(citizen), "is_bot": False, "first_name": "Siti"},
        "chat": {"id": int(citizen), "type": "private", "first_name": "Siti"}}}
    deliver(redis_conn, report_text, update("live_location", 800031, start, sender=citizen))
    with db.session() as s:
        filed = s.scalars(select(Ticket)).one()
        assert (filed.lat, filed.lon) == (-6.231912, 106.874303)  # the live location's start placed the report
    deliver(redis_conn, update("live_location_update", 800032, start, start + timedelta(seconds=40), sender=citizen))
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1 and s.scalars(select(OfficerPosition)).all() == []
        assert s.scalars(select(Ticket)).one().lat == -6.231912  # not moved by the citizen's later positions
    await login(client, username="sari")
    assert await live(client) == []
