"""The supervisors' page (/crop/stats) and its CSV over real HTTP, on SQLite and PostgreSQL: behind the login; the
figures are web/stats.py's; areas under web.min_count are listed but not ranked; the SVG charts and the CSV carry
names safely (escaped in the page, no spreadsheet formula in the CSV)."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from store import db, ops
from tests.web.conftest import login, officer_with_login, report
from web import public, site, stats, supervisors
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

H = timedelta(hours=1)
TEBET, SETIABUDI, JATINEGARA = "31.74.01", "31.74.02", "31.75.03"
# An agency code nobody configured is shown by its code: a hostile one must stay text in the page and in the CSV.
HOSTILE = '=SUM(1+1)"<b>x</b>'  # the column holds 32 characters
MIN_COUNT = 3


@pytest.fixture
async def client(hub: str) -> AsyncIterator[TestClient]:
    officer_with_login("budi", "Sari", "7102")  # login() logs in as "budi"
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    site.mount(app, sessions, None, Photos(sessions, max_bytes=10 * 1024 * 1024),
               site.Site(public.Config(days=30, min_count=MIN_COUNT), session_hours=1))
    async with TestClient(TestServer(app)) as c:
        yield c


def _file(rows: list[dict[str, Any]]) -> None:
    """File tickets directly, with their response and resolution times (every row carries every column)."""
    with db.session() as s:
        [cid] = ops.upsert_citizens(s, [{"channel": "t", "external_id": "1", "display_name": None, "username": None,
                                          "language": None}]).values()
        ops.create_tickets(s, "JKT", [{"citizen_id": cid, "channel": "t", "text": "", "language": "id",
                                       "reply_address": {}, **r} for r in rows])


def _ticket(kel: str, agency: str, created: datetime, response_h: float, resolution_h: float) -> dict[str, Any]:
    return {"kelurahan_kode": kel, "kecamatan_kode": kel.rsplit(".", 1)[0], "agency": agency, "category": "garbage",
            "status": "resolved", "created_at": created, "first_response_at": created + response_h * H,
            "resolved_at": created + resolution_h * H}


@pytest.fixture
def figures(hub: str, redis_conn: redis.Redis) -> None:
    """Tebet: 10 garbage tickets five days old, answered after 1..10 h, resolved after 5..50 h (dsda).
    Setiabudi: 3 answered after 0.5 h and resolved after 1 h (the hostile agency): ranked first, as MIN_COUNT is 3.
    Jatinegara: one citizen's flood report through the real pipeline, still open: listed, not ranked."""
    now = datetime.now(timezone.utc)
    _file([_ticket(f"{TEBET}.1001", "dsda", now - 5 * 24 * H, i, 5 * i) for i in range(1, 11)]
          + [_ticket(f"{SETIABUDI}.1001", HOSTILE, now - 2 * 24 * H, 0.5, 1) for _ in range(3)])
    report(redis_conn, "tg-1", "banjir 50 cm di jl jatinegara barat", -6.2245, 106.8660)


def cells(html: str, code: str) -> list[str]:
    """The text of a figures table row's cells, by the row's code."""
    row = re.search(rf'<tr data-code="{re.escape(code)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row is not None, f"no row for {code}"
    return [re.sub(r"\s+", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def bars(html: str, chart: str) -> list[str]:
    """A chart's bars as "label: value", from each bar's <title>."""
    svg = re.search(rf'<svg id="{chart}".*?</svg>', html, re.S)
    assert svg is not None, f"no chart {chart}"
    return re.findall(r'<g class="bar"><title>(.*?)</title>', svg.group(0))


def _hours(h: float | None) -> str:
    return "–" if h is None else f"{h:.1f}".replace(".", ",")  # as Indonesian writes it


async def test_the_page_and_the_csv_need_a_login(client: TestClient) -> None:
    for path in ("/crop/stats", "/crop/stats?level=agency", "/crop/stats.csv?level=kelurahan&days=7"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and response.headers["Location"].startswith("/login?next=")


@pytest.mark.usefixtures("figures")
async def test_the_figures_are_web_stats_and_small_areas_are_not_ranked(client: TestClient) -> None:
    await login(client)
    response = await client.get("/crop/stats")  # kecamatan and web.public_days by default
    html = await response.text()
    assert response.status == 200 and "Statistik per kecamatan, 30 hari terakhir" in html
    assert cells(html, TEBET) == ["2", "Tebet", "10", "0", "5,5 / 9,1", "27,5 / 45,5", "0%"]
    assert cells(html, SETIABUDI)[:3] == ["1", "Setiabudi", "3"]
    assert cells(html, JATINEGARA)[:4] == ["–", "Jatinegara", "1", "1"]  # one report: under min_count
    assert f'<tr data-code="{JATINEGARA}" class="unranked">' in html
    assert "Kecamatan dengan kurang dari 3 laporan tidak diberi peringkat" in html
    assert re.search(r"14 laporan di 3 kecamatan: 2 diberi peringkat.*1 dengan kurang dari\s+3 laporan", html, re.S)
    # Every row is what web/stats.py computes for the same period.
    now = datetime.now(timezone.utc)
    with db.session() as s:
        expected = stats.area_stats(s, "kecamatan", now - timedelta(days=30), now, MIN_COUNT, now=now)
    assert [c for c in re.findall(r'<tr data-code="([^"]+)"', html)] == [r.code for r in expected]
    for r in expected:
        share = "–" if r.sla_breach_share is None else f"{r.sla_breach_share * 100:.0f}%"
        assert cells(html, r.code) == [
            "–" if r.rank is None else str(r.rank), r.name, str(r.tickets), str(r.open),
            f"{_hours(r.first_response_median_h)} / {_hours(r.first_response_p90_h)}",
            f"{_hours(r.resolution_median_h)} / {_hours(r.resolution_p90_h)}", share]
    # The charts: median hours to a first response of the ranked areas only, in rank order; reports per category.
    assert bars(html, "chart-response") == ["Setiabudi: 0.5", "Tebet: 5.5"]
    assert bars(html, "chart-categories") == ["sampah: 13", "banjir / genangan: 1"]
    assert "<script" not in html.split("</head>")[1]  # the charts are drawn on the server, not by a script


@pytest.mark.usefixtures("figures")
async def test_levels_and_periods(client: TestClient) -> None:
    await login(client)
    kelurahan = await (await client.get("/crop/stats?level=kelurahan")).text()
    assert cells(kelurahan, f"{TEBET}.1001")[:3] == ["2", "Tebet Timur", "10"]
    short = await (await client.get("/crop/stats?days=0")).text()  # bounded to one day: only today's report
    assert "Statistik per kecamatan, 1 hari terakhir" in short
    assert re.findall(r'<tr data-code="([^"]+)"', short) == [JATINEGARA]
    assert 'value="365"' in await (await client.get("/crop/stats?days=9999")).text()
    assert (await client.get("/crop/stats?level=kota")).status == 400
    assert (await client.get("/crop/stats?days=seminggu")).status == 400


@pytest.mark.usefixtures("figures")
async def test_names_are_escaped_in_the_table_and_the_charts(client: TestClient) -> None:
    await login(client)
    html = await (await client.get("/crop/stats?level=agency")).text()
    escaped = "=SUM(1+1)&#34;&lt;b&gt;x&lt;/b&gt;"
    assert "<b>x</b>" not in html
    assert cells(html, escaped)[:3] == ["1", escaped, "3"]
    assert f"{escaped}: 0.5" in bars(html, "chart-response")
    assert cells(html, "dsda")[1] == "Dinas Sumber Daya Air"
    assert 'href="/crop/stats.csv?level=agency&amp;days=30"' in html


@pytest.mark.usefixtures("figures")
async def test_the_csv_export(client: TestClient) -> None:
    await login(client)
    response = await client.get("/crop/stats.csv?level=agency&days=30")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="crophub-agency-30d-\d{8}\.csv"', disposition)
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == ["level", "code", "name", "tickets", "open", "closed", "first_response_median_h",
                       "first_response_p90_h", "resolution_median_h", "resolution_p90_h", "sla_breach_share", "rank"]
    by_code = {r[1]: r for r in rows[1:]}
    # A spreadsheet would run the hostile code as a formula: it starts with a quote instead.
    assert by_code["'" + HOSTILE] == ["agency", "'" + HOSTILE, "'" + HOSTILE, "3", "0", "3", "0.5", "0.5", "1.0",
                                      "1.0", "0.0", "1"]
    assert by_code["dsda"][2:6] == ["Dinas Sumber Daya Air", "11", "1", "10"]  # and the pipeline's flood report
    assert by_code["dsda"][6:10] == ["5.5", "9.1", "27.5", "45.5"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    kecamatan = list(csv.reader(io.StringIO(await (await client.get("/crop/stats.csv")).text())))
    assert [(r[1], r[3], r[-1]) for r in kecamatan[1:]] == [(SETIABUDI, "3", "1"), (TEBET, "10", "2"),
                                                            (JATINEGARA, "1", "")]
    assert (await client.get("/crop/stats.csv?level=kota")).status == 400


def test_a_chart_scales_its_bars_to_the_largest_and_shortens_long_labels() -> None:
    chart = supervisors.chart("c", "t", [("a", 10.0), ("b", 5.0), ("Kelurahan dengan nama yang sangat panjang", 0.0)])
    assert [b.width for b in chart.bars] == [394.0, 197.0, 0.0]
    assert chart.bars[2].label == "Kelurahan dengan nama yang …" and chart.bars[2].title.endswith("panjang")
    assert chart.height == 3 * supervisors.ROW + 4
    assert supervisors.chart("c", "t", [("a", 0.0)]).bars[0].width == 0.0
    many = supervisors.chart("c", "t", [(str(i), float(i)) for i in range(100)])
    assert len(many.bars) == supervisors.MAX_BARS
