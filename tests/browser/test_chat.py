"""The web chat in a real browser (headless Chromium), on SQLite and PostgreSQL: a citizen types a report, the hub
asks where, the browser shares its location with the reply's button, and the acknowledgement with the ticket
number appears in the page; what the citizen typed is shown as text."""
from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from playwright.async_api import expect
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Intake
from store import db
from store.models import Ticket
from tests.browser.conftest import Watch, serve
from tests.web.conftest import work
from web import chat
from web.app import make_app
from web.media import Photos

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

TEXT = "ada banjir setinggi lutut <b>tolong</b> <script>window.__pwned = 1</script>"
JATINEGARA = {"latitude": -6.2245, "longitude": 106.8660}


@pytest_asyncio.fixture(loop_scope="session")  # the server must run in the loop the test and browser run in
async def base_url(redis_conn: redis.Redis) -> AsyncIterator[str]:
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    async with serve(app) as url:
        yield url


async def test_the_web_chat_files_a_report(page: Page, watch: Watch, base_url: str, redis_conn: redis.Redis) -> None:
    await page.context.grant_permissions(["geolocation"], origin=base_url)
    await page.context.set_geolocation(JATINEGARA)
    await page.goto(base_url + "/chat")
    await page.get_by_label("Pesan").fill(TEXT)
    await page.get_by_role("button", name="Kirim").click()
    mine = page.locator("#messages .msg-me")
    await expect(mine).to_have_count(1)
    await expect(mine.first).to_have_class("msg msg-me")  # the hub has it stored (202): not pending, not failed
    await expect(mine.first).to_have_text(TEXT)  # as typed: markup is text

    # The router reads it (RQ's worker wants the main thread, so the server waits meanwhile): no place yet,
    # so it asks where.
    work(redis_conn)
    asked = page.locator("#messages .msg-hub").last
    await expect(asked).to_be_visible(timeout=5000)  # the page polls every 2 s
    share = asked.get_by_role("button").last
    await share.click()  # the reply's share-location button: the browser's position goes to the hub

    await expect(page.locator("#messages .msg-me")).to_have_count(2)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")
    work(redis_conn)
    with db.session() as s:
        ticket = s.scalars(select(Ticket)).one()
    assert ticket.channel == "web" and ticket.kecamatan_kode == "31.75.03"
    await expect(page.locator("#messages .msg-hub").last).to_contain_text(ticket.public_id, timeout=5000)
    assert await page.evaluate("typeof window.__pwned") == "undefined"
    assert await page.locator("#messages script, #messages b").count() == 0
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
