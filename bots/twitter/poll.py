"""Mentions of the city's account: GET /2/users/:id/mentions from the stored since_id, stored before the
cursor moves; or, in stream mode, the filtered stream with a catch-up poll on every (re)connect."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import requests
import tweepy

from ingest import listen
from bots.base import coerce
from bots.twitter import client as tw
from bots.twitter.config import TwitterSettings
from bots.twitter.parse import CHANNEL, newest_id, page_problem, parse_page, tweet_ids
from ingest.intake import Batch, Intake, Skipped, payload_key

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the endpoint's maximum max_results
EXPANSIONS = ["author_id", "geo.place_id", "attachments.media_keys", "referenced_tweets.id"]
TWEET_FIELDS = ["created_at", "lang", "geo", "entities", "referenced_tweets", "conversation_id", "author_id",
                "attachments"]
USER_FIELDS = ["username", "name"]
PLACE_FIELDS = ["full_name", "geo", "name", "place_type"]
MEDIA_FIELDS = ["url", "type", "width", "height", "preview_image_url"]
FIELDS = {"expansions": EXPANSIONS, "tweet_fields": TWEET_FIELDS, "user_fields": USER_FIELDS,
          "place_fields": PLACE_FIELDS, "media_fields": MEDIA_FIELDS}
_RAW_LIMIT = 10_000  # characters of an unreadable body kept for inspection


@dataclass(frozen=True)
class Cursor:
    """Where reading resumes: every mention up to `since_id` is stored.

    While a backlog is open (a poll stopped with older pages unread: max_pages reached, a 429, an error),
    every mention from `until_id` up to `newest_id` is stored too, and the next polls read (since_id,
    until_id) before anything newer; then since_id becomes newest_id. So nothing is skipped and
    nothing read twice, however a poll ends."""

    since_id: str | None = None
    until_id: str | None = None
    newest_id: str | None = None

    def encode(self) -> str:
        """The stored form: the bare since_id, or JSON while a backlog is open."""
        if self.until_id is None:
            return self.since_id or ""
        return json.dumps({"since_id": self.since_id, "until_id": self.until_id, "newest_id": self.newest_id})

    @classmethod
    def decode(cls, value: str | None) -> "Cursor | None":
        """The cursor a stored value describes (None: never polled)."""
        if not value:
            return None
        if value.startswith("{"):
            data = json.loads(value)
            return cls(data.get("since_id"), data.get("until_id"), data.get("newest_id"))
        return cls(since_id=value)

    def after(self, read: list[str], complete: bool) -> "Cursor":
        """The cursor once the tweets `read` (newest first, pages in order) are stored; `complete`: no older
        page of this range is left unread."""
        top = newest_id([i for i in (self.newest_id, *read) if i])
        if complete:
            return Cursor(since_id=newest_id([i for i in (self.since_id, top) if i]))
        oldest = min(read, key=int) if read else self.until_id
        return Cursor(self.since_id, oldest, top) if oldest else self


class MentionPoller:
    """The account's mentions, polled (or streamed) into the intake."""

    def __init__(self, settings: TwitterSettings | Mapping[str, Any], intake: Intake) -> None:
        self.settings = coerce(TwitterSettings, settings)
        self.intake = intake
        self.account_id = self.settings.account_id or ""
        self.username = self.settings.account_username  # without the "@" (the settings strip it)
        self.mode = self.settings.mode
        self.poll_interval = self.settings.poll_interval
        self.max_pages = self.settings.max_pages
        self.max_wait = self.settings.max_rate_limit_wait
        self.cursor_name = f"twitter:{self.account_id}:since_id"
        self.cursor: Cursor | None = None
        self.client: tweepy.Client | None = None
        self.started = False
        self.not_before = 0.0  # time.monotonic() before which no request is made (rate limit)
        self.caught_up = False  # the last poll read everything up to now (nothing left for the next)
        self.throttled = 0  # 429s in a row: each doubles the least wait, so a wrong clock cannot make a hot loop
        self.stop = asyncio.Event()  # run() replaces it with the caller's, so every wait ends on stop

    async def start(self) -> None:
        """Make the client and load the stored cursor."""
        if not self.account_id.isdigit():
            raise ValueError("twitter: set twitter.account_id (the account's numeric user id)")
        if not self.settings.secret("bearer_token_env"):
            raise ValueError(f"twitter: no bearer token (set {self.settings.bearer_token_env})")
        self.client = tw.make_client(self.settings)
        self.cursor = Cursor.decode(await asyncio.to_thread(self.intake.cursor, self.cursor_name))
        self.started = True
        log.info("twitter: reading mentions of %s (@%s) from %s", self.account_id, self.username or "?",
                 self.cursor.encode() if self.cursor else "the newest page")

    async def poll_once(self) -> int:
        """Read the mentions after the cursor (up to max_pages pages), store them with the moved cursor in
        one transaction; returns how many tweets were read. A 429 is waited out by the next poll; other
        errors are raised after what was read is stored."""
        if self.client is None:
            await self.start()
        cursor = self.cursor
        # Never polled: only the newest page. Mentions from before crophub watched the account are old
        # news; answering hundreds of them at once would flood the city with stale reports.
        first_run = cursor is None
        batch, token = Batch(), None
        read: list[str] = []
        finished, error = False, None
        now = datetime.now(timezone.utc)
        for _ in range(1 if first_run else self.max_pages):
            if read and self.not_before > time.monotonic():
                break  # the window is spent: store what was read now; the rest is a backlog for later
            if not await self._pace():
                break  # stopped while waiting for the rate limit
            try:
                response = await asyncio.to_thread(self._fetch, cursor, token)
            except tweepy.TooManyRequests as exc:
                self._throttle(exc.response)
                break
            except Exception as exc:  # what was read is stored first; then listen.forever backs off
                error = exc
                break
            self.throttled = 0
            self._note_limit(response)
            page, reason = _json(response)
            if reason is not None:
                body = response.text[:_RAW_LIMIT]
                batch.add(Skipped(CHANNEL, payload_key(body), "rejected", reason, {"payload": body}))
                break
            for item in parse_page(page, self.account_id, self.username, now):
                batch.add(item)
            if page_problem(page):
                break  # the page as a whole is malformed: its tweets are unknown, so the cursor stays
            if page.get("errors") and not page.get("data") and not isinstance(page.get("meta"), dict):
                # Not an empty page (that has meta.result_count 0): what lies here is unknown, so the
                # cursor stays, or an open backlog would be closed over tweets never read.
                log.warning("twitter: mentions answered with errors only: %s", page["errors"])
                break
            read += tweet_ids(page)
            meta = page.get("meta")
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token:
                finished = True
                break
        else:
            finished = first_run  # on the first run the older pages are left on purpose (see above)
        self.caught_up = finished
        moved = cursor
        if read or (finished and cursor and cursor.until_id):
            moved = (cursor or Cursor()).after(read, complete=finished)
        if moved is not None and moved != cursor:
            batch.cursor = (self.cursor_name, moved.encode())
        # Chronological order, so a citizen's report is processed before their follow-up.
        batch.messages.reverse()
        if batch.messages or batch.skipped or batch.cursor:
            # Persist first; only then does the cursor (and the next request's since_id) move past them.
            await asyncio.to_thread(self.intake.accept, batch)
        if batch.cursor:
            self.cursor = moved
        if error is not None:
            raise error
        return len(read)

    def _fetch(self, cursor: Cursor | None, token: str | None) -> requests.Response:
        params: dict[str, Any] = {"max_results": PAGE_SIZE, **FIELDS}
        if cursor and cursor.since_id:
            params["since_id"] = cursor.since_id
        if cursor and cursor.until_id:
            params["until_id"] = cursor.until_id
        if token:
            params["pagination_token"] = token
        assert self.client is not None
        return self.client.get_users_mentions(self.account_id, **params)

    async def _pace(self) -> bool:
        """Wait until the rate limit allows a request; False when stopped meanwhile."""
        wait = self.not_before - time.monotonic()
        if wait > 0:
            await self._sleep(wait)
        return not self.stop.is_set()

    def _note_limit(self, response: Any) -> None:
        # The window is spent: the next request would be a 429, so wait for the reset first.
        if tw.remaining(response) == 0:
            wait = tw.reset_wait(response, self.max_wait)
            log.info("twitter: rate-limit window spent; next request in %.1fs", wait)
            self.not_before = time.monotonic() + wait

    def _throttle(self, response: Any) -> None:
        self.throttled += 1
        least = min(self.max_wait, tw.MIN_WAIT * 2 ** (self.throttled - 1))
        wait = max(least, tw.reset_wait(response, self.max_wait))
        log.warning("twitter: rate limited (429); waiting %.1fs for x-rate-limit-reset", wait)
        self.not_before = time.monotonic() + wait

    async def _sleep(self, seconds: float) -> None:
        """Sleep, ending early when stopped."""
        try:
            await asyncio.wait_for(self.stop.wait(), timeout=max(0.0, seconds))
        except asyncio.TimeoutError:
            pass

    async def run(self, stop: asyncio.Event) -> None:
        """Poll (or stream) until `stop` is set; errors back off in listen.forever, 429s wait for their reset."""
        self.stop = stop

        async def step() -> None:
            if not self.started:
                await self.start()
            if self.mode == "stream":
                await self.stream_once()
                return
            await self.poll_once()
            await self._sleep(self.poll_interval)

        try:
            await listen.forever("twitter poller", step, stop)
        finally:
            if self.client is not None:
                self.client.session.close()

    # --- filtered stream -------------------------------------------------------------------------

    async def stream_once(self) -> None:
        """One stream connection: ensure the @mention rule, connect, catch up by polling from since_id (what
        came while disconnected), then store each streamed tweet with the cursor until the stream ends.

        Tweets streamed during the catch-up wait in the stream's buffer, so none falls between the two;
        one both polled and streamed is stored once (its id is its idempotency key)."""
        stream = MentionStream(self, asyncio.get_running_loop())
        await asyncio.to_thread(stream.ensure_rule)
        stream.filter(threaded=True, **FIELDS)
        try:
            await self._until(stream.connected, stream.ended)
            if stream.connected.is_set() and not stream.ended.is_set():
                while not self.stop.is_set():  # a backlog or a 429 takes more than one poll
                    await self.poll_once()
                    if self.caught_up:
                        break
                    await self._sleep(self.poll_interval)  # as between polls: a bad answer cannot spin this
                await asyncio.to_thread(stream.go_live)
                await self._until(stream.ended)
        finally:
            stream.disconnect()
        if stream.error is not None:
            raise stream.error
        if not self.stop.is_set():
            raise ConnectionError("twitter: the filtered stream ended")  # listen.forever reconnects with backoff

    async def _until(self, *events: asyncio.Event) -> None:
        """Wait until one of `events`, or stop, is set."""
        waits = [asyncio.ensure_future(e.wait()) for e in (*events, self.stop)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def store_streamed(self, raw: bytes) -> None:
        """Store one stream line (in the stream's thread) with the cursor moved past its tweet."""
        now = datetime.now(timezone.utc)
        batch = Batch()
        try:
            page: Any = json.loads(raw)
        except ValueError as exc:
            text = raw.decode("utf-8", "replace")[:_RAW_LIMIT]
            batch.add(Skipped(CHANNEL, payload_key(text), "rejected", f"stream item is not JSON: {exc}",
                              {"payload": text}))
            page = None
        if isinstance(page, dict) and "data" not in page:
            if page.get("errors"):
                log.warning("twitter: stream errors: %s", page["errors"])
            return  # an operational message, no tweet
        if page is not None:
            for item in parse_page(page, self.account_id, self.username, now):
                batch.add(item)
        ids = tweet_ids(page)
        cursor = self.cursor or Cursor()
        # A streamed tweet is newer than all polled ones; while a backlog is open it only raises newest_id.
        moved = cursor.after(ids, complete=cursor.until_id is None) if ids else cursor
        if moved != self.cursor and moved.encode():
            batch.cursor = (self.cursor_name, moved.encode())
        self.intake.accept(batch)
        if batch.cursor:
            self.cursor = moved


class MentionStream(tweepy.StreamingClient):
    """tweepy's filtered stream, routed like the Client, handing raw lines to the poller's store.

    tweepy's own retry loop is turned off (max_retries=0): reconnecting and backoff live in listen.forever."""

    def __init__(self, poller: MentionPoller, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(poller.settings.secret("bearer_token_env"), return_type=dict, wait_on_rate_limit=False,
                         max_retries=0, daemon=True)
        tw.route(self.session, poller.settings)
        self.poller = poller
        self.loop = loop
        self.connected, self.ended = asyncio.Event(), asyncio.Event()
        self.error: Exception | None = None
        self.buffer: list[bytes] = []
        self.live = False
        self.lock = threading.Lock()

    def ensure_rule(self) -> None:
        """Add the rule `@<account_username>` unless it is there already."""
        if not self.poller.username:
            raise ValueError("twitter: stream mode needs twitter.account_username (the rule is @<username>)")
        value = f"@{self.poller.username}"
        rules = self.get_rules().get("data") or []
        if not any(r.get("value") == value for r in rules):
            self.add_rules(tweepy.StreamRule(value, tag="crophub mentions"))

    def go_live(self) -> None:
        """Store what was buffered during the catch-up, then every line as it comes."""
        with self.lock:
            for raw in self.buffer:
                self.poller.store_streamed(raw)
            self.buffer.clear()
            self.live = True

    def on_data(self, raw_data: bytes) -> None:
        """Store each line before reading the next (buffer it while the catch-up poll runs)."""
        with self.lock:
            if self.live:
                self.poller.store_streamed(raw_data)
            else:
                self.buffer.append(raw_data)

    def on_connect(self) -> None:
        """Tell the poller the stream is up."""
        self._tell(self.connected)

    def on_disconnect(self) -> None:
        """Tell the poller the stream is over."""
        self._tell(self.ended)

    def _tell(self, event: asyncio.Event) -> None:
        try:
            self.loop.call_soon_threadsafe(event.set)
        except RuntimeError:  # the poller's loop is gone (stopped): nobody is waiting any more
            pass

    def on_closed(self, response: Any) -> None:
        """The server ended the stream: end this connection (tweepy would reconnect at once, unpaced)."""
        self.error = ConnectionError("twitter: filtered stream closed by the server")
        self.disconnect()

    def on_request_error(self, status_code: int) -> None:
        """A refused connection (e.g. 429): end it; listen.forever backs off."""
        self.error = ConnectionError(f"twitter: filtered stream refused with HTTP {status_code}")
        self.disconnect()

    def on_connection_error(self) -> None:
        """A dropped connection: end it; listen.forever reconnects."""
        self.error = ConnectionError("twitter: filtered stream connection lost")
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        """An unexpected error in the stream's thread (e.g. the store failing): end and report it."""
        self.error = exception


def _json(response: requests.Response) -> tuple[Any, str | None]:
    """The response's JSON, or why it is unreadable."""
    try:
        return response.json(), None
    except ValueError as exc:
        return None, f"response is not JSON: {exc}"


def listener(settings: TwitterSettings, intake: Intake) -> MentionPoller:
    """The account's mention reader, as `crophub listen` runs it."""
    return MentionPoller(settings, intake)
