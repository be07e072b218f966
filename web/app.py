"""The aiohttp application: health and the static files; the pages, Open311 and webhooks add their routes to it."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from aiohttp import web
from aiohttp_remotes import XForwardedRelaxed


def make_app(health: Callable[[], dict[str, object]], max_photo_bytes: int = 10 * 1024 * 1024,
             proxy_hops: int = 0) -> web.Application:
    """The web app; `health` reports the state of the services it depends on; `proxy_hops` proxies in front of
    it (their X-Forwarded-For, -Proto and -Host are believed; 0: none, the peer is the client)."""
    # A request may carry one photo and a form or message around it.
    app = web.Application(client_max_size=max_photo_bytes + 256 * 1024)
    if proxy_hops:
        # First of all middlewares: rate limits, the chat's Origin check and Open311's links then see the
        # client's address, scheme and host instead of the proxy's.
        app.middlewares.insert(0, XForwardedRelaxed(proxy_hops).middleware)

    async def healthz(_request: web.Request) -> web.Response:
        report = health()
        ok = all(v is True for v in report.values())
        return web.json_response({"ok": ok, **report}, status=200 if ok else 503)

    app.router.add_get("/healthz", healthz)
    # Every page's CSS and scripts (Leaflet vendored under vendor/): nothing is loaded from another host.
    app.router.add_static("/static", Path(__file__).parent / "static", append_version=True)
    return app
