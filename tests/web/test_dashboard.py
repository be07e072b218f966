"""The officers' dashboard over real HTTP, on SQLite and PostgreSQL: a login guards it, forms carry a CSRF token,
the queue filters, a ticket's page shows its timeline (report texts as text), and actions follow the chat's rules
and tell the citizen."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from store import accounts, db
from store import officers as roster
from store.models import Outbox, Ticket
from tests.web.conftest import report
from web import auth, dashboard, public
from web.app import make_app

pytestmark = pytest.mark.usefixtures("hub")

PASSWORD = "banjir-surut-2026"


@pytest.fixture
async def client(hub: str) -> AsyncIterator[TestClient]:
    with db.session() as s:
        # Budi covers water (dsda) in Jakarta Timur; Sari is a supervisor.
        budi = roster.add(s, {"telegram_id": "7101", "name": "Budi PPSU", "role": "petugas", "areas": ["31.75"],
                              "agencies": ["dsda"]})
        sari = roster.add(s, {"telegram_id": "7102", "name": "Sari", "role": "supervisor", "areas": [], "agencies": []})
        s.flush()
        accounts.add(s, "budi", PASSWORD, budi)
        accounts.add(s, "sari", PASSWORD, sari)
    app = make_app(lambda: {"redis": True})
    auth.setup(app, db.factory(), timedelta(hours=1), secure_cookies=False)
    dashboard.setup(app, db.factory())
    public.setup(app, db.factory(), public.Config())
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.fixture
def reports(hub: str, redis_conn: redis.Redis) -> None:
    report(redis_conn, "tg-1", "banjir 50 cm <script>alert(1)</script> di jl jatinegara barat", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)


async def login(client: TestClient, username: str = "budi", password: str = PASSWORD, next_: str = "") -> int:
    form_page = await (await client.get(f"/login?next={next_}")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": username, "password": password,
                                                  "next": next_}, allow_redirects=False)
    return response.status


async def csrf_of(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', await (await client.get(path)).text()).group(1)  # type: ignore[union-attr]


def ticket(category: str) -> Ticket:
    with db.session() as s:
        return s.scalars(select(Ticket).where(Ticket.category == category)).one()


async def test_everything_under_crop_needs_a_login(client: TestClient) -> None:
    for path in ("/crop", "/crop/tickets/JKT-2026-000001", "/crop?status=all"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].replace("%2F", "/").startswith("/login?next=/crop")
    response = await client.post("/crop/tickets/JKT-2026-000001/act", data={"action": "take"}, allow_redirects=False)
    assert response.status == 403
    assert (await client.get("/")).status == 200  # the public page is public


async def test_a_login_needs_the_right_password_and_its_form_token(client: TestClient) -> None:
    assert await login(client, password="salah-sekali-123") == 401
    missing = await client.post("/login", data={"username": "budi", "password": PASSWORD}, allow_redirects=False)
    assert missing.status == 403  # no login form token: a cross-site login attempt
    assert await login(client, username="nobody") == 401
    form_page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    ok = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD},
                           allow_redirects=False)
    cookie = next(c for c in ok.headers.getall("Set-Cookie") if c.startswith(auth.COOKIE + "="))
    assert ok.status == 302 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    response = await client.get("/crop", allow_redirects=False)
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    assert "Budi PPSU" in await response.text()


async def test_the_next_page_after_login_is_a_dashboard_page_only(client: TestClient) -> None:
    form_page = await (await client.get("/login?next=https://evil.example/")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD,
                                                  "next": "//evil.example/"}, allow_redirects=False)
    assert response.headers["Location"] == "/crop"
    form_page = await (await client.get("/login")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', form_page).group(1)  # type: ignore[union-attr]
    response = await client.post("/login", data={"csrf": csrf, "username": "budi", "password": PASSWORD,
                                                  "next": "/crop?category=flood"}, allow_redirects=False)
    assert response.headers["Location"] == "/crop?category=flood"


@pytest.mark.usefixtures("reports")
async def test_the_queue_filters_and_a_ticket_shows_its_text_as_text(client: TestClient) -> None:
    await login(client)
    html = await (await client.get("/crop")).text()
    flood, garbage = ticket("flood"), ticket("garbage")
    assert flood.public_id in html and garbage.public_id in html
    only = await (await client.get("/crop?category=garbage")).text()
    assert garbage.public_id in only and flood.public_id not in only
    area = await (await client.get("/crop?area=31.75.03")).text()  # Jatinegara
    assert flood.public_id in area and garbage.public_id not in area
    assert flood.public_id not in await (await client.get("/crop?status=closed")).text()
    page = await (await client.get(f"/crop/tickets/{flood.public_id}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert "1 warga lewat telegram" in page and "created" in page
    assert (await client.get("/crop/tickets/JKT-2026-999999")).status == 404


@pytest.mark.usefixtures("reports")
async def test_actions_follow_the_chat_rules_and_tell_the_citizen(client: TestClient) -> None:
    await login(client)
    flood, garbage = ticket("flood"), ticket("garbage")
    path = f"/crop/tickets/{flood.public_id}"
    refused = await client.post(f"{path}/act", data={"action": "take", "csrf": "forged"}, allow_redirects=False)
    assert refused.status == 403 and ticket("flood").status == flood.status
    csrf = await csrf_of(client, path)
    page = await (await client.post(f"{path}/act", data={"action": "take", "csrf": csrf})).text()
    assert "Status" in page and ticket("flood").status == "assigned"
    page = await (await client.post(f"{path}/act", data={"action": "progress", "note": "pompa dikirim",
                                                         "csrf": csrf})).text()
    assert ticket("flood").status == "in_progress" and "pompa dikirim" in page
    # The citizen hears of each change on their own channel, as when the officer acts in chat.
    with db.session() as s:
        updates = [o.text for o in s.scalars(select(Outbox).where(Outbox.ticket_id == flood.id,
                                                                   Outbox.channel == "telegram"))]
    assert any("pompa dikirim" in u for u in updates)
    # Garbage is the environment agency's: Budi (water) may not act on it, and the attempt is recorded.
    page = await (await client.post(f"/crop/tickets/{garbage.public_id}/act",
                                    data={"action": "take", "csrf": csrf})).text()
    assert ticket("garbage").status == garbage.status and "refused" in page
    reject = await (await client.post(f"{path}/act", data={"action": "reject", "csrf": csrf})).text()
    assert ticket("flood").status == "in_progress" and "alasan" in reject.lower()


async def test_logging_out_ends_the_session(client: TestClient) -> None:
    await login(client)
    csrf = await csrf_of(client, "/crop")
    await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert (await client.get("/crop", allow_redirects=False)).status == 302
