"""A handoff on the dashboard in a real browser (headless Chromium), on SQLite and PostgreSQL: a supervisor opens a
ticket Budi holds, hands it to another kelurahan with a reason, and sees it on the trail, the new holder on the page,
and the SLA deadline where it was."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from playwright.async_api import expect

from store import db
from store import officers as roster
from tests.browser.conftest import Watch, serve
from tests.browser.test_dashboard import crop_app, log_in
from tests.web.conftest import officer_with_login, report, ticket

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]

KEBON_JERUK = "31.73.05.1001"


@pytest.fixture
def flood(hub: str, redis_conn: redis.Redis) -> None:
    """Budi (SDA, Jakarta Timur) is sent a flood in Jatinegara; Sari supervises; Dewi covers Kebon Jeruk."""
    officer_with_login("budi", "Budi PPSU", "7101")
    officer_with_login("sari", "Sari", "7102", role="supervisor", areas=(), agencies=())
    with db.session() as s:
        roster.add(s, {"name": "Dewi PPSU", "telegram_id": "7103", "role": "petugas", "areas": [KEBON_JERUK],
                       "agencies": ["dsda"]})
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(flood: None) -> AsyncIterator[str]:
    async with serve(crop_app()) as url:
        yield url


async def test_a_supervisor_hands_a_ticket_to_another_kelurahan_and_the_deadline_stays(
        page: Page, watch: Watch, base_url: str) -> None:
    before = ticket("flood")
    assert before.status == "assigned" and before.sla_started_at is not None
    await page.set_viewport_size({"width": 1100, "height": 1400})
    await page.goto(base_url + "/login")
    await log_in(page, username="sari")
    await expect(page).to_have_url(base_url + "/crop")
    await page.goto(f"{base_url}/crop/tickets/{before.public_id}")
    due = await page.locator("#sla .countdown").get_attribute("data-due")
    assert due

    form = page.locator("form.act")
    await form.get_by_label("Tindakan").select_option("reassign")
    await form.get_by_label("Alihkan ke").select_option(KEBON_JERUK)
    await form.get_by_label("Alasan pengalihan").select_option(label="bukan wilayah kami")
    await form.get_by_label("Catatan / alasan").fill("alamat sebenarnya di Kebon Jeruk")
    async with page.expect_navigation():
        await form.get_by_role("button", name="Kirim").click()

    await expect(page.locator("#notice")).to_contain_text("dialihkan ke Kelurahan Kebon Jeruk (bukan wilayah kami)")
    await expect(page.locator("#holder")).to_have_text("Dinas Sumber Daya Air — Kelurahan Kebon Jeruk")
    moved = page.locator('#timeline li[data-kind="handoff"]')
    await expect(moved).to_have_count(1)
    await expect(moved).to_contain_text("Sari")
    await expect(moved).to_contain_text("ke Kelurahan Kebon Jeruk (bukan wilayah kami)")
    await expect(page.locator("#timeline li").last).to_contain_text("diteruskan, belum diambil")  # Dewi has it now
    assert await page.locator("#sla .countdown").get_attribute("data-due") == due  # the clock kept running
    after = ticket("flood")
    assert (after.holder_area, after.sla_started_at, after.first_response_at) == (KEBON_JERUK, before.sla_started_at,
                                                                                    None)
    if os.environ.get("CROPHUB_TEST_SHOTS"):  # to look at: CROPHUB_TEST_SHOTS=<folder> pytest ...
        folder = Path(os.environ["CROPHUB_TEST_SHOTS"])
        folder.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(folder / "handoff_ticket_page.png"), full_page=True)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
