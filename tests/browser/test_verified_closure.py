"""Verified closure in a real browser (headless Chromium), on SQLite and PostgreSQL: an officer resolves a flood on the
dashboard with a photo taken 2 km from the report's point; the check runs in the worker, and the ticket page lists
the flag with its reason and the queue marks the ticket. Screenshots: CROPHUB_TEST_SHOTS=<folder>."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator

import pytest
import pytest_asyncio
import redis
from playwright.async_api import expect

from router.templates import status_label
from tests.browser.conftest import Watch, serve
from tests.browser.test_dashboard import act, crop_app, logged_in
from tests.photos import jpeg
from tests.web.conftest import officer_with_login, report, ticket
from tests.web.test_verified_closure import TWO_KM, flags, now_exif, work

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.usefixtures("hub")]


def shot(name: str) -> str | None:
    """Where to save a screenshot to look at (CROPHUB_TEST_SHOTS=<folder>), or None."""
    folder = os.environ.get("CROPHUB_TEST_SHOTS")
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / name)


@pytest.fixture
def officer(hub: str, redis_conn: redis.Redis) -> None:
    """A flood reported with a shared point on Jl. Jatinegara Barat, and garbage; Budi (water, Jakarta Timur) can
    log in."""
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)
    report(redis_conn, "tg-2", "sampah menumpuk di pinggir kali ciliwung", -6.2500, 106.8700)
    officer_with_login("budi", "Budi PPSU", "7101")


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(officer: None) -> AsyncIterator[str]:
    async with serve(crop_app()) as url:
        yield url


async def test_a_done_photo_taken_2_km_away_is_flagged_on_the_dashboard(
        page: Page, watch: Watch, base_url: str, redis_conn: redis.Redis, tmp_path: Path) -> None:
    flood = ticket("flood")
    photo = tmp_path / "hasil.jpg"
    photo.write_bytes(jpeg(1, gps=TWO_KM, taken=now_exif()))
    await logged_in(page, base_url)
    await page.goto(f"{base_url}/crop/tickets/{flood.public_id}")
    await act(page, "take")
    await act(page, "done", note="air sudah surut", photo=photo)
    # The officer is not held up: resolved at once. The upload's EXIF was read as it came (it is stripped before
    # the photo is kept), so the place is flagged already; the comparison with other photos waits for the worker.
    await expect(page.locator("#status")).to_have_text(status_label("resolved", "id", officer=True))
    await expect(page.locator("#flags li")).to_contain_text("foto tidak di lokasi")
    await expect(page.locator("#photo-notes")).to_contain_text("menunggu pemeriksaan")

    work(redis_conn)  # the worker runs the check (the page's server need not answer meanwhile)
    assert [code for code, _ in flags()] == ["off_site"]
    await page.reload()
    flag = page.locator("#flags li")
    await expect(flag).to_have_count(1)
    await expect(flag).to_contain_text("foto tidak di lokasi")
    await expect(flag).to_contain_text("diambil 2,0 km dari titik laporan (batas 300 m)")
    await expect(flag.locator("time")).to_contain_text("WIB")
    await expect(page.locator("#photo-notes")).to_have_count(0)  # time and place were both in the photo
    await expect(page.locator("#photo-resolution")).to_be_visible()
    if (path := shot("closure_ticket_flagged.png")) is not None:
        await page.screenshot(path=path, full_page=True)

    await page.goto(f"{base_url}/crop?status=all")
    row = page.locator("#queue tbody tr", has_text=flood.public_id)
    await expect(row.locator(".flag")).to_have_text("\u2691 foto tidak di lokasi")
    await expect(page.locator("#queue tbody tr")).to_have_count(2)
    await expect(page.locator("#queue .flag")).to_have_count(1)  # the garbage ticket carries none
    if (path := shot("closure_queue_badge.png")) is not None:
        await page.screenshot(path=path, full_page=True)
    assert not watch.errors and not watch.blocked, (watch.errors, watch.blocked)
