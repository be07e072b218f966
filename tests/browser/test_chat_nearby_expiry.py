"""Issue 20 in the web chat, in a real browser (headless Chromium), on SQLite and PostgreSQL. Nearby reports before
filing: a citizen reports a flood 100 m from one already filed, is asked whether to support it, presses "Ya,
dukung", and is a co-reporter from then on: the next update of that ticket appears in the page. Short-lived
categories: a traffic jam nobody acted on closes itself after 6 h, and the page says so."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from playwright.async_api import expect
from rq import Queue
from sqlalchemy import select, update

from ingest.intake import INTAKE_QUEUE, Intake
from router import lifecycle, recover, unit
from router.outcome import Outcome
from store import db
from store.models import Ticket, TicketEvent, utcnow
from tests.browser.conftest import Watch, serve
from tests.web.conftest import report, work
from web import chat
from web.app import make_app
from web.media import Photos

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

FIRST = (-6.2245, 106.8660)  # Jatinegara: a Telegram citizen's flood, filed first
HERE = {"latitude": -6.2254, "longitude": 106.8660}  # ~100 m south: inside flood's 500 m


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(redis_conn: redis.Redis) -> AsyncIterator[str]:
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    async with serve(app) as url:
        yield url


async def test_a_nearby_report_is_offered_and_joined_with_the_button(
    page: Page, watch: Watch, base_url: str, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    report(redis_conn, "tg-1", "banjir setinggi lutut di jl jatinegara barat", *FIRST)
    with db.session() as s:
        first = s.scalars(select(Ticket)).one()
    await page.context.grant_permissions(["geolocation"], origin=base_url)
    await page.context.set_geolocation(HERE)
    await page.goto(base_url + "/chat")
    await page.get_by_label("Pesan").fill("banjir selutut di sini, air masuk rumah")
    await page.get_by_role("button", name="Kirim").click()
    await expect(page.locator("#messages .msg-me")).to_have_count(1)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")  # stored (202)
    work(redis_conn)
    asked_where = page.locator("#messages .msg-hub").last
    await expect(asked_where).to_be_visible(timeout=5000)
    await asked_where.get_by_role("button").last.click()  # share the browser's location
    await expect(page.locator("#messages .msg-me")).to_have_count(2)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")
    work(redis_conn)

    asked = page.locator("#messages .msg-hub").last
    await expect(asked).to_contain_text(f"Ada laporan serupa di dekat Anda ({first.public_id}, 100 m): "
                                        "dukung laporan itu?", timeout=5000)
    await expect(asked.get_by_role("button", name="Tidak, laporan baru")).to_be_visible()
    await page.screenshot(path=str(tmp_path / "nearby_question.png"), full_page=True)
    await asked.get_by_role("button", name="Ya, dukung").click()
    await expect(page.locator("#messages .msg-me")).to_have_count(3)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")  # stored (202)
    work(redis_conn)
    joined = page.locator("#messages .msg-hub").last
    await expect(joined).to_contain_text(f"sudah ada di dekat lokasi Anda: tiket {first.public_id}", timeout=5000)
    await expect(page.locator("#messages .msg-buttons")).to_have_count(0)  # the question's buttons are gone
    with db.session() as s:
        mine = s.scalars(select(Ticket).where(Ticket.channel == "web")).one()
        assert (mine.status, mine.duplicate_of_id) == ("duplicate", first.id)
        assert mine.citizen_id in {r.citizen_id for r in lifecycle.reporters(s, first.id)}

    # The ticket's next change reaches the co-reporter in the page.
    with db.session() as s:
        ticket = s.get(Ticket, first.id, with_for_update=True)
        done = unit.commit(s, Outcome(tuple(lifecycle.change(s, ticket, "in_progress", "router",
                                                             note="pompa air sedang dipasang"))))
    unit.after_commit(done)
    work(redis_conn)
    await expect(page.locator("#messages .msg-hub").last).to_contain_text(
        f"Tiket {first.public_id}: sedang ditangani petugas.", timeout=5000)
    await page.screenshot(path=str(tmp_path / "nearby_joined.png"), full_page=True)
    print("screenshots:", tmp_path)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)


async def test_an_expired_traffic_report_closes_and_the_page_says_so(
    page: Page, watch: Watch, base_url: str, redis_conn: redis.Redis, tmp_path: Path
) -> None:
    await page.context.grant_permissions(["geolocation"], origin=base_url)
    await page.context.set_geolocation(HERE)
    await page.goto(base_url + "/chat")
    await page.get_by_label("Pesan").fill("Macet total di depan pasar, kendaraan tidak bergerak sama sekali")
    await page.get_by_role("button", name="Kirim").click()
    await expect(page.locator("#messages .msg-me")).to_have_count(1)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")  # stored (202)
    work(redis_conn)
    await page.locator("#messages .msg-hub").last.get_by_role("button").last.click()  # share the location
    await expect(page.locator("#messages .msg-me")).to_have_count(2)
    await expect(page.locator("#messages .msg-me").last).to_have_class("msg msg-me")
    work(redis_conn)
    with db.session() as s:
        jam = s.scalars(select(Ticket)).one()
    assert (jam.category, jam.status) == ("traffic", "open")  # nobody covers it: still untouched
    then = utcnow() - timedelta(hours=6, minutes=5)
    with db.session() as s:  # six hours on
        s.execute(update(Ticket).values(created_at=then))
        s.execute(update(TicketEvent).values(created_at=then))
    assert recover.sweep(older_than_seconds=24 * 3600)["expired_tickets"] == 1
    work(redis_conn)
    await expect(page.locator("#messages .msg-hub").last).to_contain_text(
        f"Tiket {jam.public_id} ditutup otomatis: laporan lalu lintas / kemacetan berlaku 6 jam", timeout=5000)
    await page.screenshot(path=str(tmp_path / "expired.png"), full_page=True)
    print("screenshots:", tmp_path)
    with db.session() as s:
        assert s.get(Ticket, jam.id).status == "closed"
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
