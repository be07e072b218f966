"""A fake Waze for Cities feed: aiohttp on 127.0.0.1 serving one JSON snapshot, with conditional GETs.

The feed is a plain GET of the current snapshot. This fake answers it with ETag and Last-Modified, replies
304 to a matching If-None-Match (or, without one, an If-Modified-Since not older than the snapshot), can be
told to fail or stall the next requests, and records every request so tests can check conditional requests
and the poller's backoff.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass, replace
from email.utils import format_datetime, parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Mapping

from aiohttp import web

from bots.waze import options
from ingest.waze.poll import FeedOptions
from tests.fakes.loopback import LoopbackServer

PATH = "/feed"
MOVED_PATH = "/moved"


def feed_options(url: str, **waze: Any) -> FeedOptions:
    """The poller's options for `url`: the `waze:` section's defaults (bots/waze/config.py) but for `waze`'s keys.
    The URL is set as given, whatever CROPHUB_WAZE_FEED_URL holds in the shell that runs the tests."""
    return replace(options(waze), url=url)


@dataclass(frozen=True)
class FeedRequest:
    """One request the fake received: when (time.monotonic()), its headers, and what it answered."""

    at: float
    method: str
    path: str
    headers: Mapping[str, str]  # case-insensitive, as received
    status: int


class FakeWazeFeed(LoopbackServer):
    """The server's state and handler; start() runs it in a background thread with its own loop."""

    name = "fake Waze feed"

    def __init__(self, body: bytes | str | dict[str, Any] | None = None) -> None:
        self.requests: list[FeedRequest] = []
        self._lock = threading.Lock()
        self._failures: list[tuple[int, int | None]] = []  # (status, Retry-After seconds)
        self._delays: list[float] = []
        self.body = b""
        self.etag = ""
        self.last_modified = datetime.now(timezone.utc)
        self.serve({} if body is None else body)

    # --- control, from any thread --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The value for the Waze feed URL setting."""
        return f"http://127.0.0.1:{self.port}{PATH}"

    def serve(self, body: bytes | str | dict[str, Any]) -> str:
        """Make `body` the current snapshot; returns its ETag (unchanged, as is Last-Modified, for the same bytes)."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body.encode() if isinstance(body, str) else body
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        with self._lock:
            if etag != self.etag:
                self.body, self.etag = data, etag
                # HTTP dates have whole seconds; keep ours comparable with what a client sends back.
                self.last_modified = datetime.now(timezone.utc).replace(microsecond=0)
            return self.etag

    def fail_next(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next `times` requests with this status (and a Retry-After header when given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * times)

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Stall the next `times` requests by `seconds` before answering them."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def statuses(self) -> list[int]:
        """The status of every request so far, in order."""
        with self._lock:
            return [r.status for r in self.requests]

    # --- protocol ------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        with self._lock:
            delay = self._delays.pop(0) if self._delays else 0.0
            failure = self._failures.pop(0) if self._failures else None
            body, etag, modified = self.body, self.etag, self.last_modified
        if delay:
            await asyncio.sleep(delay)
        if failure:
            status, retry_after = failure
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            response = web.Response(status=status, text=f"injected failure {status}", headers=headers)
        else:
            headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True),
                       "Cache-Control": "no-cache"}
            if _not_modified(request, etag, modified):
                response = web.Response(status=304, headers=headers)
            else:
                response = web.Response(body=body, content_type="application/json", charset="utf-8", headers=headers)
        with self._lock:
            self.requests.append(FeedRequest(time.monotonic(), request.method, request.path_qs, request.headers.copy(),
                                             response.status))
        return response

    # --- serving -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application: the feed on PATH, MOVED_PATH redirecting to it (as a moved feed would), 404
        elsewhere as on the real host."""
        app = web.Application()
        app.router.add_get(PATH, self.handle)
        app.router.add_get(MOVED_PATH, self.moved)
        return app

    async def moved(self, request: web.Request) -> web.StreamResponse:
        """A 301 to the feed, keeping the query (and so the token)."""
        with self._lock:
            self.requests.append(FeedRequest(time.monotonic(), request.method, request.path_qs,
                                             request.headers.copy(), 301))
        raise web.HTTPMovedPermanently(f"http://127.0.0.1:{self.port}{PATH}?{request.query_string}")


def _not_modified(request: web.Request, etag: str, modified: datetime) -> bool:
    # RFC 9110: If-None-Match, when present, decides alone; If-Modified-Since is only the fallback.
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False  # an unreadable date is ignored, as servers do
    return False
