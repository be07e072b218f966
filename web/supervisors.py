"""The supervisors' page under /crop/stats: each kelurahan's, kecamatan's or agency's response figures over a period
(ranked only when there are enough reports), the rising categories, bar charts drawn on the server as inline SVG
(no chart library, nothing from another host), and the same figures as CSV at /crop/stats.csv."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from router import context
from router import clock
from web import auth, stats
from web.public import Config, render

LEVELS = {"kecamatan": "Kecamatan", "kelurahan": "Kelurahan", "agency": "Dinas"}  # the first is the default
MAX_DAYS = 365
MAX_BARS = 30  # a longer chart is not read; the table lists every area
# Chart geometry, in SVG user units (the SVG scales to the page's width).
WIDTH, LABEL_WIDTH, VALUE_WIDTH, ROW = 640, 190, 56, 22
LABEL_CHARS = 28


@dataclass(frozen=True)
class Bar:
    """One bar: its label (shortened to fit; `title` is the whole), the value as shown, and where it is drawn."""

    label: str
    title: str
    value: str
    y: int
    width: float


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart, rendered by web/templates/chart.html."""

    id: str
    title: str
    bars: list[Bar]
    width: int = WIDTH
    label_width: int = LABEL_WIDTH

    @property
    def height(self) -> int:
        """The SVG's height: a row per bar."""
        return max(len(self.bars), 1) * ROW + 4


def setup(app: web.Application, sessions: sessionmaker[Session], config: Config) -> None:
    """Add /crop/stats and /crop/stats.csv (behind the /crop login, like the rest of the dashboard)."""
    view = _Supervisors(sessions, config)
    app.router.add_get("/crop/stats", view.page)
    app.router.add_get("/crop/stats.csv", view.csv)


def period(request: web.Request, default_days: int) -> tuple[str, int]:
    """The `level` and `days` a request asks for (days bounded to 1..365); 400 for anything else."""
    level = request.query.get("level", "").strip() or next(iter(LEVELS))
    if level not in LEVELS:
        raise web.HTTPBadRequest(text=f"level must be one of {', '.join(LEVELS)}")
    try:
        days = int(request.query.get("days", "").strip() or default_days)
    except ValueError:
        raise web.HTTPBadRequest(text="days must be a whole number") from None
    return level, min(max(days, 1), MAX_DAYS)


def chart(id_: str, title: str, items: list[tuple[str, float]], fmt: str = "{:.1f}") -> Chart:
    """A bar chart of (label, value) pairs, in their order; bar lengths are relative to the largest value."""
    top = max((value for _, value in items), default=0.0)
    room = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    bars = [Bar(label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…", label, fmt.format(value),
                i * ROW, round(room * value / top, 1) if top > 0 else 0.0)
            for i, (label, value) in enumerate(items[:MAX_BARS])]
    return Chart(id_, title, bars)


class _Supervisors:
    def __init__(self, sessions: sessionmaker[Session], config: Config) -> None:
        self.sessions = sessions
        self.config = config

    async def page(self, request: web.Request) -> web.Response:
        level, days = period(request, self.config.days)
        found = await asyncio.to_thread(self._figures, level, days)
        return render("crop_stats.html", **auth.context(request, level=level, levels=LEVELS, noun=LEVELS[level],
                                                        days=days, min_count=self.config.min_count, **found))

    async def csv(self, request: web.Request) -> web.Response:
        level, days = period(request, self.config.days)
        now = datetime.now(timezone.utc)
        rows = await asyncio.to_thread(self._rows, level, now - timedelta(days=days), now)
        name = f"crophub-{level}-{days}d-{now:%Y%m%d}.csv"  # only [a-z0-9-.]: no quoting needed
        return web.Response(text=stats.to_csv(rows), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    def _rows(self, level: str, since: datetime, until: datetime) -> list[stats.AreaStats]:
        with self.sessions() as session:
            return stats.area_stats(session, level, since, until, self.config.min_count, now=until)

    def _figures(self, level: str, days: int) -> dict[str, Any]:
        now = datetime.now(timezone.utc)
        since = now - timedelta(days=days)
        rows = self._rows(level, since, now)
        with self.sessions() as session:
            trends = stats.trending(session, now)
            counts = stats.category_counts(session, since, now)
            flags = stats.flag_counts(session, since, now)  # HE: verified closure
        tax = context.taxonomy()
        labels = {c: tax.label(c, "id") for c in {*counts, *(t.category for t in trends)}}
        ranked = [r for r in rows if r.rank is not None]
        response = [(r.name, h) for r in ranked if (h := r.first_response_median_h) is not None]
        charts = [chart("chart-response", f"Median jam sampai respons pertama, {LEVELS[level].lower()} berperingkat",
                        response),
                  chart("chart-categories", f"Laporan per kategori, {days} hari terakhir",
                        [(labels[c], float(n)) for c, n in counts.items()], "{:.0f}")]
        return {"since": clock.show(since), "until": clock.show(now),
                "rows": rows, "ranked": len(ranked), "unranked": len(rows) - len(ranked),
                "total": sum(r.tickets for r in rows), "trending": trends, "labels": labels, "charts": charts,
                "more_bars": len(response) > MAX_BARS, "max_bars": MAX_BARS, "flags": flags}
