"""Photos for the officers' pages and the web chat, whatever channel holds them (store.media.MediaRef): kept
here (store/media.py), a channel's file (fetched by that channel's sender, cached a while in memory), or a public
URL (a tweet's photo)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from bots import registry
from store import media
from store.media import MediaRef

log = logging.getLogger(__name__)

FAILED_FOR = 600.0  # seconds a photo Telegram would not give is not asked for again


def servable(ref: str | None) -> bool:
    """Whether a photo reference can be shown by this app: kept here, a channel's file its sender can download, or
    an https link (an emailed photo we did not keep cannot; a plain-http link is not followed)."""
    found = MediaRef.find(ref)
    if found is None:
        return False
    if found.kind == "file":
        return registry.offers(found.channel, "downloads")
    return found.kind == "kept" or (found.kind == "url" and found.id.startswith("https://"))

# The bytes are personal data: only the browser that asked may keep them, and nothing in them runs.
_HEADERS = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox"}


class Photos:
    """Finds a photo's bytes by its reference; keeps the last fetched ones (up to `cache_bytes`) in memory."""

    def __init__(self, sessions: sessionmaker[Session], max_bytes: int, cache_bytes: int = 32 * 1024 * 1024) -> None:
        self.sessions = sessions
        self.max_bytes = max_bytes
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, tuple[bytes, str]] = OrderedDict()
        self._senders: dict[str, registry.Sender] = {}  # by channel, built in the web app's event loop
        self._failed: dict[str, float] = {}  # reference → when fetching it last failed: not asked again for a while

    async def respond(self, ref: str | None) -> web.StreamResponse:
        """The photo as a response: its bytes, a redirect to its public URL, or 404 with the reason."""
        if not ref:
            raise web.HTTPNotFound(text="no photo")
        found_ref = MediaRef.find(ref)
        if found_ref is not None and found_ref.kind == "url" and found_ref.id.startswith("https://"):
            raise web.HTTPFound(found_ref.id)
        found = await self.get(ref)
        if found is None:
            raise web.HTTPNotFound(text="this photo cannot be shown here")
        data, mime = found
        return web.Response(body=data, content_type=mime, headers=_HEADERS)

    async def get(self, ref: str) -> tuple[bytes, str] | None:
        """(bytes, MIME type) of a photo kept here or held by a channel that can download it; None when it cannot
        be had."""
        if ref in self._cache:
            self._cache.move_to_end(ref)
            return self._cache[ref]
        found_ref = MediaRef.find(ref)
        if found_ref is None:
            return None
        if found_ref.kind == "kept":
            return await asyncio.to_thread(self._load, ref)
        if found_ref.kind != "file" or not registry.offers(found_ref.channel, "downloads"):
            return None  # an emailed photo stays in its mail; a link is the browser's to follow
        if time.monotonic() - self._failed.get(ref, -FAILED_FOR) < FAILED_FOR:
            return None
        found = await self._download(found_ref)
        if found is not None:
            self._remember(ref, found)
        else:
            if len(self._failed) > 10_000:
                self._failed.clear()
            self._failed[ref] = time.monotonic()
        return found

    def _load(self, ref: str) -> tuple[bytes, str] | None:
        with self.sessions() as session:
            return media.load(session, ref)

    async def _download(self, ref: MediaRef) -> tuple[bytes, str] | None:
        try:
            if ref.channel not in self._senders:  # built here, in the web app's event loop, which its client is bound to
                self._senders[ref.channel] = registry.new(ref.channel)
            data = await self._senders[ref.channel].download(ref.id, self.max_bytes)  # type: ignore[attr-defined]
        except Exception as exc:  # no bot configured, the channel down, a file id of another bot
            log.warning("web: could not fetch %s photo %s…: %s", ref.channel, ref.id[:12], exc)
            return None
        mime = media.sniff(data)
        if mime is None:
            log.warning("web: %s file %s… is not a photo", ref.channel, ref.id[:12])
            return None
        # A channel's file is shown as a kept one is: without its metadata (a photo sent as a file keeps its GPS).
        return (media.strip_jpeg_metadata(data) if mime == "image/jpeg" else data), mime

    def _remember(self, ref: str, found: tuple[bytes, str]) -> None:
        self._cache[ref] = found
        while sum(len(d) for d, _ in self._cache.values()) > self.cache_bytes and len(self._cache) > 1:
            self._cache.popitem(last=False)
