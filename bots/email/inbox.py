"""Read the complaint inbox over IMAP: store new mail, and only then flag it \\Seen; IDLE or poll between."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from aioimaplib import IMAP4, STOP_WAIT_SERVER_PUSH

from ingest import listen
from bots.base import coerce
from bots.email import imap
from bots.email.config import EmailSettings, password, tls_context
from bots.email.parse import parse_email, too_large
from ingest.intake import Batch, Intake, Skipped

log = logging.getLogger(__name__)

FETCH_TRIES = 3  # passes a mail the server will not hand over is tried in, before it is kept as rejected


class InboxReader:
    """One mailbox's reader: UID SEARCH UNSEEN, fetch, store in one transaction, flag \\Seen, wait."""

    def __init__(self, settings: EmailSettings | Mapping[str, Any], intake: Intake) -> None:
        self.settings = coerce(EmailSettings, settings)
        self.account = (self.settings.address or "").lower()
        self.imap = self.settings.imap
        self.intake = intake
        self.max_attachment_bytes = self.settings.max_attachment_bytes
        self.max_message_bytes = self.settings.max_message_bytes
        self.mailbox = self.imap.mailbox
        self.timeout = self.imap.timeout
        self.poll_interval = self.imap.poll_interval
        self.idle_timeout = self.imap.idle_timeout
        # Mails handled per pass: each pass is one transaction; a backlog is read in several passes.
        self.batch_size = self.imap.batch_size
        # Bytes of mail held per pass (beyond its first mail), so a backlog of large mails is not all
        # in memory at once.
        self.batch_bytes = self.imap.batch_bytes
        self.more = False  # the last pass left unseen mail for the next one
        self.client: IMAP4 | None = None
        self.idle = False  # set at connect: config allows it and the server offers it
        self.changed = False  # the server reported new mail since the last search
        self._lost: asyncio.Event | None = None
        self._fetch_failures: dict[int, int] = {}

    # --- connection -------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect, log in, select the mailbox, and learn whether the server can IDLE."""
        host, port, security = self.imap.host, self.imap.port, self.imap.security
        if not host:
            raise imap.ImapError("no IMAP server (set email.imap.host)")
        user = self.imap.username or self.account
        lost = self._lost = asyncio.Event()
        client = await imap.open_client(host, port, security, tls_context(self.imap), self.timeout,
                                        on_lost=lambda exc: lost.set())
        try:
            imap.ok(await client.login(user, password(self.imap) or ""), f"LOGIN {user}")
            # Servers may offer more (IDLE among it) once logged in.
            await imap.within(self.timeout, "CAPABILITY", client.protocol.capability())
            imap.ok(await client.select(self.mailbox), f"SELECT {self.mailbox}")
        except BaseException:
            await self._close(client)
            raise
        imap.watch_exists(client, self._seen_new)
        self.client = client
        self.idle = self.imap.idle and client.has_capability("IDLE")
        log.info("email: reading %s of %s at %s:%s (%s), %s", self.mailbox, user, host, port, security,
                 "waiting with IDLE" if self.idle else f"polling every {self.poll_interval:g}s")

    def _seen_new(self) -> None:
        self.changed = True

    async def close(self) -> None:
        """Log out (best effort) and forget the connection."""
        client, self.client = self.client, None
        if client is not None:
            await self._close(client)

    async def _close(self, client: IMAP4) -> None:
        transport = getattr(client.protocol, "transport", None)
        if transport is not None and not transport.is_closing():
            try:
                if client.has_pending_idle():
                    client.idle_done()
                # A polite LOGOUT, but no long wait for it: the connection may be half dead.
                await asyncio.wait_for(client.logout(), min(self.timeout, 2))
            except Exception:  # there is nothing to save on a connection we are leaving
                pass
        if transport is not None:
            transport.close()

    # --- one pass ---------------------------------------------------------------------------------

    async def fetch_new(self) -> int:
        """Store up to batch_size unseen mails (in one transaction), then flag them \\Seen; → how many."""
        client = self._client()
        # An IMAP server updates a session's view of the mailbox between commands: without this NOOP a
        # search would not see mail that arrived since our last command (the server tells of it after).
        imap.ok(await client.noop(), "NOOP")
        self.changed = False  # from here on, any "EXISTS" means mail this search may not have seen
        found = imap.ok(await imap.within(self.timeout, "UID SEARCH", client.uid_search("UNSEEN", charset=None)),
                        "UID SEARCH UNSEEN")
        unseen = imap.search_uids(found)
        uids = unseen[: self.batch_size]
        self.more = len(unseen) > len(uids)
        if not uids:
            return 0
        sizes = imap.fetch_sizes(imap.ok(await client.uid("fetch", imap.uid_set(uids), "(UID RFC822.SIZE)"),
                                         "UID FETCH RFC822.SIZE"))
        now = datetime.now(timezone.utc)
        batch = Batch()
        done: list[int] = []
        notes: list[tuple[int, Any]] = []
        held = 0
        for uid in uids:
            size = sizes.get(uid)
            if size is None:  # expunged since the search (another client moved it): nothing to store
                continue
            if done and held + min(size, self.max_message_bytes) > self.batch_bytes:
                self.more = True  # the rest in the next pass
                break
            held += min(size, self.max_message_bytes)
            if size > self.max_message_bytes:
                # Only the header comes down: enough to name the mail and keep it for inspection.
                header = imap.fetch_literal(imap.ok(await client.uid("fetch", str(uid), "BODY.PEEK[HEADER]"),
                                                    "UID FETCH BODY.PEEK[HEADER]"))
                item: Any = too_large(header or b"", size, self.max_message_bytes)
            else:
                # PEEK: fetching must not mark the mail \Seen; only a stored mail may be.
                fetched = await client.uid("fetch", str(uid), "BODY.PEEK[]")
                source = imap.fetch_literal(fetched) if fetched.result == "OK" else None
                if source is None:
                    item = self._unreadable(uid, fetched)
                    if item is None:
                        continue  # tried again in the next pass; the other mails go on
                else:
                    # In a thread: a large HTML mail takes seconds to read, and this loop serves every channel.
                    item = await asyncio.to_thread(parse_email, source, self.account, now, self.max_attachment_bytes)
            batch.add(item)
            done.append(uid)
            notes.append((uid, item))
        if not done:
            return 0
        # Persist before acknowledging: if this raises, nothing is flagged and the mails come again
        # (their Message-IDs make the second store a no-op for any that did get in).
        await asyncio.to_thread(self.intake.accept, batch)
        for uid, item in notes:
            _log_stored(uid, item)
        imap.ok(await imap.within(self.timeout, "UID STORE", client.uid("store", imap.uid_set(done), "+FLAGS.SILENT",
                                                                         r"(\Seen)")), "UID STORE +FLAGS \\Seen")
        return len(done)

    def _unreadable(self, uid: int, response: Any) -> Skipped | None:
        """A mail the server would not hand over: tried FETCH_TRIES times (None until then), then kept as
        rejected with the server's answer, and flagged, so it cannot hold up the inbox for ever."""
        tries = self._fetch_failures[uid] = self._fetch_failures.get(uid, 0) + 1
        detail = f"{response.result} {b' '.join(l for l in response.lines if isinstance(l, bytes))[:200]!r}"
        if tries < FETCH_TRIES:
            log.warning("email: the server would not return mail uid %d (%s); trying again", uid, detail)
            return None
        self._fetch_failures.pop(uid, None)
        return Skipped("email", f"imap:{self.account}:{self.mailbox}:{uid}", "rejected",
                       f"the server would not return mail uid {uid} in {FETCH_TRIES} tries: {detail}",
                       {"uid": uid, "mailbox": self.mailbox})

    # --- waiting ----------------------------------------------------------------------------------

    async def wait(self, stop: asyncio.Event) -> None:
        """Wait for new mail: IDLE until the server reports some (renewed before idle_timeout), or sleep
        poll_interval; returns early when `stop` is set or the connection drops."""
        if self.idle:
            await self._idle(stop)
        else:
            await self._sleep(stop, self.poll_interval)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        waits = [asyncio.ensure_future(stop.wait())]
        if self._lost is not None:
            waits.append(asyncio.ensure_future(self._lost.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        if self._lost is not None and self._lost.is_set():
            raise imap.ImapError("connection lost")

    async def _idle(self, stop: asyncio.Event) -> None:
        client = self._client()
        queue = client.protocol.idle_queue
        while not queue.empty():  # pushes left from the last IDLE told of mail the last search already saw
            queue.get_nowait()
        idle = await imap.within(self.timeout, "IDLE", client.idle_start(timeout=self.idle_timeout))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.idle_timeout
        waits = [asyncio.ensure_future(stop.wait())]
        if self._lost is not None:
            waits.append(asyncio.ensure_future(self._lost.wait()))
        push: asyncio.Future[Any] | None = None
        try:
            # `changed`: mail reported before IDLE began (with an earlier command's answer).
            while not self.changed and loop.time() < deadline:
                push = asyncio.ensure_future(client.wait_server_push(timeout=max(0.0, deadline - loop.time())))
                done, _ = await asyncio.wait([push, *waits], return_when=asyncio.FIRST_COMPLETED)
                if push not in done:
                    break  # stop, or the connection dropped
                if push.exception() is not None or push.result() == STOP_WAIT_SERVER_PUSH:
                    break  # time to renew IDLE (RFC 2177: within 29 minutes)
                # Other pushes ("* OK Still here", flag changes) need no new search: keep idling.
        finally:
            for task in (*waits, push):
                if task is not None and not task.done():
                    task.cancel()
        if self._lost is not None and self._lost.is_set():
            raise imap.ImapError("connection lost while idling")
        client.idle_done()
        imap.ok(await imap.within(self.timeout, "IDLE DONE", idle), "IDLE")

    # --- the loop ---------------------------------------------------------------------------------

    async def step(self, stop: asyncio.Event) -> None:
        """One turn of the loop: connect if needed, store what is new, wait for more."""
        if self.client is None:
            await self.connect()
        try:
            await self.fetch_new()
            if not self.more and not self.changed and not stop.is_set():
                await self.wait(stop)
        except BaseException:
            await self.close()  # reconnect next time: the connection may be in any state now
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Read the inbox until `stop` is set, reconnecting with backoff after errors."""
        try:
            await listen.forever("email inbox", lambda: self.step(stop), stop)
        finally:
            await self.close()

    def _client(self) -> IMAP4:
        if self.client is None:
            raise imap.ImapError("not connected")
        return self.client


def _log_stored(uid: int, item: Any) -> None:
    """One line per mail handled: stored (INFO), rejected (WARNING) or ignored (INFO), with the reason."""
    if isinstance(item, Skipped):
        level = logging.WARNING if item.status == "rejected" else logging.INFO
        sender = (item.raw.get("headers") or {}).get("From", "?") if isinstance(item.raw, dict) else "?"
        log.log(level, "email: %s mail uid %d %s from %s: %s", item.status, uid, item.key, sender, item.reason)
        return
    log.info("email: stored mail uid %d %s from %s (%d photo(s))", uid, item.key, item.sender.id, len(item.media))
    for dropped in item.raw.get("dropped", []):
        level = logging.WARNING if dropped.get("kind") in ("oversized", "unreadable") else logging.INFO
        log.log(level, "email: mail %s: dropped attachment %s (%s bytes): %s", item.key,
                dropped.get("filename") or dropped.get("mime_type"), dropped.get("size", "?"), dropped.get("reason"))


def listener(settings: EmailSettings, intake: Intake) -> InboxReader:
    """The inbox's reader, as `crophub listen` runs it."""
    return InboxReader(settings, intake)
