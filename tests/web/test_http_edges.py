"""Hostile HTTP at the web edges, on SQLite and PostgreSQL (issue 16, defect 4): every bad request gets a 4xx
with a clear reason, never a 500 — a body over the limit, dates out of range, a truncated multipart body, ids
that overflow the database's integers, NUL characters the database refuses."""
from __future__ import annotations

import logging
import re
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue

from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from tests.web.conftest import csrf_of, login, officer_with_login
from web import open311, public, site
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

KEY = "k3y-portal-0123456789"
BOUNDARY = "crophubedge"


@pytest.fixture
async def client(hub: str, redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    """Every page and API, as `crophub web` serves them, and a route with a fault of ours."""
    app = make_app(lambda: {"redis": True})

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("a fault of ours")

    app.router.add_get("/broken", broken)
    sessions = db.factory()
    site.mount(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024),
               site.Site(public.Config(public_photos=True), open311=open311.Config("jakarta.go.id", {KEY: "portal"})))
    async with TestClient(TestServer(app)) as c:
        assert (await c.get("/chat")).status == 200  # the chat's cookie
        yield c


async def errors_of(response: Any) -> str:
    """The reason an Open311 error gives."""
    body = await response.json()
    return str(body[0]["description"])


async def test_an_open311_body_over_the_limit_is_413(client: TestClient) -> None:
    big = "x" * (11 * 1024 * 1024)
    response = await client.post("/open311/v2/requests.json",
                                 data={"api_key": KEY, "service_code": "garbage", "description": big})
    assert response.status == 413, await response.text()
    assert "size" in (await errors_of(response)).lower()
    as_json = await client.post("/open311/v2/requests.xml", json={"api_key": KEY, "description": big})
    assert as_json.status == 413 and b"<errors>" in await as_json.read()


@pytest.mark.parametrize("query, words", [
    ("start_date=0001-01-01T00:00:00%2B14:00", "start_date out of range"),
    ("end_date=0001-01-01T00:00:00%2B14:00", "end_date out of range"),
    ("end_date=0001-01-02T00:00:00Z", "end_date out of range"),  # its default start would be 90 days before year 1
    ("start_date=9999-12-31T23:59:59-14:00", "start_date out of range"),
    ("start_date=9999-12-30T00:00:00Z", "start_date out of range"),  # 90 days on is past year 9999
    ("start_date=2026-01-01T00:00:00Z&end_date=0001-01-01T00:00:00%2B14:00", "end_date out of range"),
])
async def test_open311_dates_out_of_range_are_400(client: TestClient, query: str, words: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        response = await client.get(f"/open311/v2/requests.json?{query}")
    assert response.status == 400, await response.text()
    assert words in await errors_of(response)
    assert any(words in r.getMessage() and r.levelno >= logging.INFO for r in caplog.records)


async def test_a_truncated_multipart_body_to_the_chat_is_400(client: TestClient) -> None:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\nm-cut-0001\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"x.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0 half a photo").encode("latin-1")
    response = await client.post("/chat/messages", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status == 400, await response.text()
    assert "multipart" in (await response.json())["error"]


async def test_a_multipart_body_without_a_boundary_is_400(client: TestClient) -> None:
    response = await client.post("/chat/messages", data=b"--x\r\n\r\n",
                                 headers={"Content-Type": "multipart/form-data"})
    assert response.status == 400, await response.text()


async def test_a_truncated_multipart_body_to_open311_is_400(client: TestClient) -> None:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\n{KEY}\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nbanjir di").encode()
    response = await client.post("/open311/v2/requests.json", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert response.status == 400, await response.text()
    assert "multipart" in await errors_of(response)


@pytest.mark.parametrize("path", ["/chat/photo/" + "9" * 30, "/chat/photo/9223372036854775808",
                                  "/chat/photo/" + "9" * 5000])
async def test_a_chat_photo_id_beyond_the_database_is_not_found(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status in (400, 404, 414), await response.text()
    assert (await client.get("/chat/photo/12")).status == 404  # a plain id still asks the database


@pytest.mark.parametrize("path", ["/open311/v2/tokens/%00%00.json", "/open311/v2/requests/%00.json",
                                  "/open311/v2/requests/JKT-2026-" + "9" * 300 + ".xml",
                                  "/open311/v2/tokens/" + "a" * 3000 + ".json"])
async def test_open311_ids_that_cannot_be_ids_are_not_found(client: TestClient, path: str) -> None:
    response = await client.get(path)
    assert response.status in (400, 404), await response.text()
    reason = await errors_of(response) if path.endswith(".json") else await response.text()
    assert len(reason) < 300  # the id is not echoed back whole


@pytest.mark.parametrize("query", ["service_request_id=%00", "service_request_id=JKT-2026-" + "1" * 60,
                                   "service_code=%00", "status=%00", "jurisdiction_id=%00"])
async def test_open311_list_parameters_that_cannot_match_are_400(client: TestClient, query: str) -> None:
    response = await client.get(f"/open311/v2/requests.json?{query}")
    assert response.status in (400, 404), await response.text()


@pytest.mark.parametrize("path", ["/public/tickets.geojson?category=%00", "/public/photos/%00",
                                  "/public/photos/JKT-2026-" + "9" * 5000, "/public/tickets.geojson?days=" + "9" * 5000])
async def test_public_routes_refuse_what_the_database_cannot_take(client: TestClient, path: str) -> None:
    response = await client.get(path, allow_redirects=False)
    assert 400 <= response.status < 500, await response.text()
    assert len(await response.text()) < 300  # the id is not echoed back whole


async def test_dashboard_routes_refuse_what_the_database_cannot_take(client: TestClient) -> None:
    officer_with_login("budi", "Budi PPSU", "7101")  # here only: each costs an argon2 hash
    assert await login(client) == 302
    for path in ["/crop/tickets/%00", "/crop?status=%00", "/crop?area=31.75%00", "/crop/tickets/JKT-2026-" + "9" * 5000,
                 "/crop/tickets/JKT-2026-000001/photo/%00", "/crop/tickets/" + "x" * 3000 + "/photo/report",
                 "/crop/stats?days=" + "9" * 5000, "/crop/tickets.geojson?category=%00"]:
        response = await client.get(path, allow_redirects=False)
        assert 400 <= response.status < 500, (path[:60], await response.text())
        assert len(await response.text()) < 300  # the id is not echoed back whole
    named = await client.get("/crop/tickets/JKT-2026-" + "9" * 5000)
    assert named.status == 404 and "not a ticket number" in await named.text()


async def test_a_form_the_database_cannot_take_is_400(client: TestClient) -> None:
    # A NUL in a login name made PostgreSQL refuse the lookup: 500 before.
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', await page.text()).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": "bu\x00di", "password": "x" * 12})
    assert response.status in (400, 401), await response.text()
    form = {"api_key": KEY, "service_code": "garbage", "lat": "-6.25", "long": "106.87", "description": "ban\x00jir"}
    for body in ({"data": form}, {"json": form}):
        posted = await client.post("/open311/v2/requests.json", **body)  # type: ignore[arg-type]
        assert posted.status == 400 and "NUL" in await errors_of(posted)


async def test_truncated_forms_to_the_login_and_the_dashboard_are_400(client: TestClient) -> None:
    cut = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = await client.post("/login", data=cut, headers=headers)
    assert response.status == 400 and "well-formed" in await response.text()
    officer_with_login("budi", "Budi PPSU", "7101")
    assert await login(client) == 302
    await csrf_of(client, "/crop")
    acted = await client.post("/crop/tickets/JKT-2026-000001/act", data=cut, headers=headers)
    assert acted.status == 400 and "well-formed" in await acted.text()


async def test_a_fault_of_ours_is_still_a_logged_500(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    response = await client.get("/broken")
    assert response.status == 500 and "a fault of ours" not in await response.text()
    assert any(r.levelno == logging.ERROR and r.exc_info and "a fault of ours" in str(r.exc_info[1])
               for r in caplog.records)


async def test_a_nul_anywhere_in_the_url_is_400_with_the_reason(client: TestClient,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        response = await client.get("/public/tickets.geojson?category=flood%00")
    assert response.status == 400 and "NUL" in await response.text()
    assert any("NUL" in r.getMessage() for r in caplog.records)
