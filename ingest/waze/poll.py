"""The Waze for Cities feed, polled with aiohttp: conditional GETs, a timeout, and backoff on errors
(ingest.listen.forever); each changed snapshot is tracked and its news stored through the intake."""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

import aiohttp

from ingest import listen
from ingest.intake import Batch, Intake, Skipped, payload_key
from ingest.waze import track
from store import ops
from ingest.waze.parse import CHANNEL, FeedError, FeedResult, parse_feed

log = logging.getLogger(__name__)

# The sha256 of the last snapshot tracked: the same bytes again change nothing. Not its endTimeMillis: Waze
# republishes a minute's snapshot with alerts added, and that must be read. (Replaces the cursor "waze:end_time",
# which is left unread: the first poll after upgrading tracks its snapshot again, which is harmless.)
CURSOR = "waze:snapshot"
_RAW_LIMIT = 10_000  # characters of an unusable body kept for inspection


class FeedUnavailable(ConnectionError):
    """The feed answered with an error status; listen.forever backs off and tries again."""


@dataclass(frozen=True)
class Outcome:
    """What one poll did: "changed", "same" (304 or an already-seen snapshot), "malformed" or "too_large"."""

    status: str
    changes: track.Changes | None = None
    message_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class FeedOptions:
    """How the feed is polled. No defaults here: they are the `waze:` section's (bots/waze/config.py), which
    bots.waze builds these from."""

    url: str  # carries the feed's access token: only its origin is ever logged
    poll_interval: float  # seconds between polls
    timeout: float  # seconds one request may take
    max_feed_bytes: int  # a larger body is kept as rejected, not read
    max_retry_after: float  # the longest Retry-After (429/503) waited out
    kinds: dict[str, str]  # Waze alert type/subtype → our category (parse_feed)
    min_jam_level: int  # the least jam level filed (parse_feed)
    rules: track.Rules  # corroboration and disappearance (track.observe)


class FeedPoller:
    """Polls the feed every `poll_interval` seconds into the intake, until stopped."""

    def __init__(self, options: FeedOptions, intake: Intake) -> None:
        self.options = options
        self.intake = intake
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.http: aiohttp.ClientSession | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set; failures back off in listen.forever, a Retry-After is honoured."""

        async def step() -> None:
            await self.poll_once()
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.options.poll_interval)
            except asyncio.TimeoutError:
                pass

        try:
            await listen.forever("waze poller", step, stop)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def poll_once(self) -> Outcome:
        """Fetch the feed once and store what changed; raise on a transport error or an error status."""
        if self.http is None:
            self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.options.timeout),
                                              headers={"Accept": "application/json"})
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        try:
            # No redirects: the URL carries the access token, which a redirect could send elsewhere or in clear.
            async with self.http.get(self.options.url, headers=headers, allow_redirects=False) as response:
                if response.status == 304:
                    log.debug("waze: feed not modified")
                    return Outcome("same")
                if response.status != 200:
                    await self._wait_if_asked(response)
                    moved = f" (redirected to {_origin(response.headers.get('Location', ''))}: set waze.feed_url " \
                            f"to the final URL)" if 300 <= response.status < 400 else ""
                    raise FeedUnavailable(f"feed answered HTTP {response.status}{moved}")
                body = await self._read(response)
                validators = (response.headers.get("ETag"), response.headers.get("Last-Modified"))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            # aiohttp's messages quote the whole URL, token included; the log gets its origin only.
            raise FeedUnavailable(f"{type(exc).__name__} fetching {_origin(self.options.url)}") from None
        if len(body) > self.options.max_feed_bytes:
            reason = f"feed is larger than max_feed_bytes ({self.options.max_feed_bytes}); not read"
            await asyncio.to_thread(self._reject, body[:_RAW_LIMIT], reason)
            return Outcome("too_large")
        try:
            result = await asyncio.to_thread(parse_feed, body, self.options.kinds, self.options.min_jam_level)
        except FeedError as exc:
            # Kept and logged; the poller goes on. Validators are not kept, so the next poll reads it afresh.
            await asyncio.to_thread(self._reject, body, str(exc))
            return Outcome("malformed")
        outcome = await asyncio.to_thread(self._store, result, body)
        # Validators only for a body that was tracked: those of a skipped one could make the server answer 304
        # to a later body this poller never read.
        if outcome.status == "changed":
            self.etag, self.last_modified = validators
        return outcome

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The body, or its first max_feed_bytes + 1 bytes when it is larger (then it is not read further)."""
        body = bytearray()
        async for chunk in response.content.iter_chunked(65_536):
            body += chunk
            if len(body) > self.options.max_feed_bytes:
                break
        return bytes(body)

    async def _wait_if_asked(self, response: aiohttp.ClientResponse) -> None:
        """A 429 or 503 with Retry-After (seconds) is waited out, capped, before the error backs off."""
        value = response.headers.get("Retry-After", "")
        if response.status in (429, 503) and value.strip().isdigit():
            wait = min(float(value), self.options.max_retry_after)
            log.warning("waze: feed answered HTTP %d; waiting %.0fs as asked", response.status, wait)
            await asyncio.sleep(wait)

    def _store(self, result: FeedResult, body: bytes) -> Outcome:
        now = datetime.now(timezone.utc)
        snapshot = snapshot_id(body)  # here, off the event loop: a feed may be megabytes
        changes = None
        with self.intake.sessions.begin() as session:
            # The same bytes twice (a server without validators, or one whose validators changed) count once.
            # Any other body is tracked, whatever its time says: an older or equal endTimeMillis included.
            if snapshot != ops.get_cursor(session, CURSOR):
                changes = track.observe(session, result, self.options.rules, now)
            rejected = result.rejected + (changes.rejected if changes else [])
            batch = Batch(changes.messages if changes else [], rejected, (CURSOR, snapshot) if changes else None)
            ids = self.intake.store(session, batch)
        self.intake.enqueue(ids)
        if changes is None:
            log.info("waze: snapshot %s (as of %s) already tracked; skipped", snapshot[:19], _as_of(result))
            return Outcome("same", message_ids=tuple(ids))
        if result.unmapped:
            log.info("waze: ignored unmapped kinds: %s", ", ".join(f"{k}×{n}" for k, n in result.unmapped.most_common()))
        log.info("waze: snapshot %s (as of %s): %d mapped alert(s): %d new, %d updated, %d back, %d gone, "
                 "%d unchanged; %d rejected", snapshot[:19], _as_of(result), len(result.mapped), changes.new,
                 changes.updated, changes.back, changes.gone, changes.unchanged, len(result.rejected))
        return Outcome("changed", changes, tuple(ids))

    def _reject(self, body: bytes, reason: str) -> None:
        text = body[:_RAW_LIMIT].decode("utf-8", "replace")
        self.intake.accept(Batch(skipped=[Skipped(CHANNEL, payload_key(text), "rejected", reason,
                                                  {"body": text})]))  # not the URL: it holds the token


def snapshot_id(body: bytes) -> str:
    """What identifies a snapshot: the sha256 of its bytes (fits the cursor's 255 characters)."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _as_of(result: FeedResult) -> str:
    return result.end_time.isoformat() if result.end_time else "no endTimeMillis"


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL: what may be logged of a feed URL (its path and query hold the token)."""
    try:
        parts = urlsplit(url)
        if not parts.scheme:
            return "a path on the same host"
        return f"{parts.scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    except ValueError:  # a port that is not a number
        return "(an unreadable URL)"
