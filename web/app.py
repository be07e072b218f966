"""The aiohttp application: health; Open311 (web/open311.py) and webhooks add their routes to it."""
from __future__ import annotations

from typing import Callable

from aiohttp import web


def make_app(health: Callable[[], dict[str, object]], max_photo_bytes: int = 10 * 1024 * 1024) -> web.Application:
    """The web app; `health` reports the state of the services it depends on."""
    # A request may carry one photo and a form or message around it.
    app = web.Application(client_max_size=max_photo_bytes + 256 * 1024)

    async def healthz(_request: web.Request) -> web.Response:
        report = health()
        ok = all(v is True for v in report.values())
        return web.json_response({"ok": ok, **report}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    return app
