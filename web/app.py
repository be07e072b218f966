"""The aiohttp application: health and the static files; the pages, Open311 and webhooks add their routes to it."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_remotes import XForwardedRelaxed

from web import errors
from web.health import is_up

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(health: Callable[[], dict[str, object]], max_photo_bytes: int = 10 * 1024 * 1024,
             proxy_hops: int = 0, tile_url: str = "",
             ready: Callable[[], dict[str, object]] | None = None) -> web.Application:
    """The web app; `health` reports the state of the services it depends on (/healthz), `ready` whether work
    gets done (/readyz: workers); `proxy_hops` proxies in front of it (their X-Forwarded-For, -Proto and -Host
    are believed; 0: none, the peer is the client); `tile_url` the map tiles' server, the one other host a page
    may load from."""
    # A request may carry one photo and a form or message around it.
    app = web.Application(client_max_size=max_photo_bytes + 256 * 1024)
    if proxy_hops:
        # First of all middlewares: rate limits, the chat's Origin check and Open311's links then see the
        # client's address, scheme and host instead of the proxy's.
        app.middlewares.insert(0, XForwardedRelaxed(proxy_hops).middleware)
    app.middlewares.append(_security_headers(content_policy(tile_url)))
    app.middlewares.append(errors.middleware)  # bad requests get 4xx with the reason, never 500 (web/errors.py)

    app.router.add_get("/healthz", _report(health))
    if ready is not None:
        app.router.add_get("/readyz", _report(ready))
    # Every page's CSS and scripts (Leaflet vendored under vendor/): nothing is loaded from another host.
    app.router.add_static("/static", Path(__file__).parent / "static", append_version=True)
    return app


def _report(check: Callable[[], dict[str, object]]) -> Handler:
    async def answer(_request: web.Request) -> web.Response:
        # In a thread: a check waits for the database or Redis, which must not stall the other requests.
        report = await asyncio.get_running_loop().run_in_executor(None, check)
        down = [name for name, value in report.items() if not is_up(value)]
        body: dict[str, object] = {"ok": not down, **report}
        if down:
            body["down"] = down
        return web.json_response(body, status=503 if down else 200)

    return answer


def content_policy(tile_url: str) -> str:
    """The pages' Content-Security-Policy: scripts, styles and data from this site only; images also from the
    tile server. The pages have no inline script or style, so a script slipped into a report could not run."""
    parts = urlsplit(tile_url.replace("{s}", "tile-subdomain")) if tile_url else None
    tiles = ""
    if parts and parts.scheme in ("http", "https") and parts.hostname and "{" not in (parts.hostname or ""):
        tiles = f" {parts.scheme}://{parts.hostname.replace('tile-subdomain', '*')}"
        tiles += f":{parts.port}" if parts.port else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"img-src 'self' data: blob:{tiles}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _security_headers(policy: str) -> Middleware:
    @web.middleware
    async def add(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if isinstance(response, web.Response) and response.content_type == "text/html":
            response.headers.setdefault("Content-Security-Policy", policy)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return add
