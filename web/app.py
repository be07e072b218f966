"""The aiohttp application: health and the static files; the pages, Open311 and webhooks add their routes to it."""
from __future__ import annotations

from pathlib import Path
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
    # Every page's CSS and scripts (Leaflet vendored under vendor/): nothing is loaded from another host.
    app.router.add_static("/static", Path(__file__).parent / "static", append_version=True)
    return app
