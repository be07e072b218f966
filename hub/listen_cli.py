"""`crophub listen`: the listeners of the channels that are on (bots.CHANNELS), in one asyncio loop."""
from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import time
from typing import TYPE_CHECKING, Any, Callable

from redis import Redis, RedisError

from hub.errors import Fatal
from ingest.lease import LEASE_SECONDS, Lease

if TYPE_CHECKING:
    from bots.base import Listener
    from hub.settings import Settings

log = logging.getLogger("crophub")

# Renewals per lease period (a renew every 5 s of the 15): two in a row may fail, a Redis blip, before it runs out.
# A standby tries to take the lease as often, and a listener that ended by itself waits as long before its restart.
RENEWS_PER_LEASE = 3
STOP_GRACE = 2.0  # seconds a listener has to return once told to stop (lease lost, shutdown); then it is cancelled


def cmd_listen(settings: Settings, args: argparse.Namespace) -> int:
    """Run the channel listeners: Telegram long polling, Twitter mentions, the email inbox, the Waze feed."""
    from rq import Queue

    from hub import runtime
    from ingest.intake import INTAKE_QUEUE, Intake
    from store import db

    url = runtime.redis_url_or_exit(settings)
    intake = Intake(db.configure(settings.database_url), Queue(INTAKE_QUEUE, connection=Redis.from_url(url)),
                    settings.workers.job_timeout)
    makers = _listener_makers(settings, intake, args.channel)
    if not makers:
        log.info("listen: no channel to listen on")
        return 0
    for _, make in makers:
        make()  # one that cannot be built (a bad setting) stops `listen` now, not when it first gets its lease
    # Its own connection, with timeouts: a lease call that hangs longer than a renewal period has failed.
    every = LEASE_SECONDS / RENEWS_PER_LEASE
    leases = Redis.from_url(url, socket_timeout=every, socket_connect_timeout=every)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Each returns once `stop` is set, its listener stopped and its lease released.
        await asyncio.gather(*(run_leased(leases, name, make, stop) for name, make in makers))

    asyncio.run(main())
    return 0


def channels_on(settings: Settings) -> list[str]:
    """The channels to listen on; logs, once, the line that says why each other one is off."""
    from bots import CHANNELS
    from hub import runtime

    on: list[str] = []
    for channel in CHANNELS:
        if channel.served_by_web:
            continue  # the web app's own pages (the web chat, Open311): `crophub web` says what it serves
        off = runtime.channel_status(settings, channel.name)
        if off:
            log.info(off)
        elif not settings.channel(channel.name).listens():
            log.info("%s: webhook mode: updates arrive through `crophub web`", channel.name)
        else:
            log.info("%s: on: %s", channel.name, channel.summary)
            on.append(channel.name)
    return on


def _listeners(settings: Settings, intake: Any, channels: list[str] | None = None) -> list[Any]:
    """The listeners of `channels`; by default of every channel that is on (each off one says so in the log)."""
    return [make() for _, make in _listener_makers(settings, intake, channels)]


def _listener_makers(settings: Settings, intake: Any, channels: list[str] | None = None) -> list[tuple[str, Callable[[], Any]]]:
    """(channel name, what builds its listener) for `channels`; by default for every channel that is on."""
    from bots import channel
    from bots.base import load

    # `crophub run` passes the channels it has already checked and reported, so the listen child
    # does not report the same channels off a second time.
    makers: list[tuple[str, Callable[[], Any]]] = []
    for name in (channels_on(settings) if channels is None else channels):
        try:
            found = channel(name)
        except KeyError as exc:
            raise Fatal(f"listen: {exc.args[0]}") from None
        if found.listener:
            makers.append((name, functools.partial(load(found.listener), settings.channel(name), intake)))
    return makers


async def run_leased(conn: Redis, name: str, make: Callable[[], Listener], stop: asyncio.Event,
                     seconds: float = LEASE_SECONDS) -> None:
    """Run the channel's listener while this process holds its lease, until `stop`; stand by while another does."""
    lease = Lease(conn, f"crophub:listen:{name}", seconds)
    every = seconds / RENEWS_PER_LEASE
    said = ""  # what the last standby line said, so that each standby period logs it once
    try:
        while not stop.is_set():
            asked = time.monotonic()
            try:
                held = await asyncio.to_thread(lease.acquire)
                if not held and said != "standby":
                    holder = await asyncio.to_thread(lease.holder)
                    log.info("listen: %s: another listen process (%s) polls it; standing by", name, holder)
                    said = "standby"
            except RedisError as exc:
                if said != "unreachable":
                    log.warning("listen: %s: Redis does not answer (%s); standing by until it does", name, exc)
                    said = "unreachable"
                held = False
            if not held:
                await _wait(stop, every)
                continue
            said = ""
            log.info("listen: %s: this process polls it", name)
            if await _poll_while_held(name, make, lease, stop, every, asked):
                await _release(name, lease)  # another process may take the channel meanwhile
                await _wait(stop, every)
    finally:
        await _release(name, lease)  # so that a standby takes over at once, not when the lease runs out


async def _poll_while_held(name: str, make: Callable[[], Listener], lease: Lease, stop: asyncio.Event,
                           every: float, renewed: float) -> bool:
    """Run a new listener until `stop` is set or the lease is lost; True if the listener ended by itself."""
    # A new listener each time: after a takeover it starts from the cursors the other process stored.
    inner = asyncio.Event()
    task = asyncio.create_task(_listen(make, inner))
    try:
        while True:
            # `renewed` is when the last renewal that took was sent: the lease lasts `seconds` from no earlier.
            deadline = renewed + lease.seconds
            await _wait(stop, min(every, deadline - time.monotonic()), task)
            if task.done():
                _log_ended(name, task, every)
                return True
            if stop.is_set():
                return False
            sent = time.monotonic()
            try:
                if not await asyncio.to_thread(lease.renew):
                    log.warning("listen: %s: the lease is no longer this process's (it ran out; another listen "
                                "process may poll it now); stopping polling", name)
                    return False
                renewed = sent
            except RedisError as exc:
                # A Redis blip must not stop intake while the lease still holds; once it may have run
                # out, another process may have taken the channel over.
                if time.monotonic() >= deadline:
                    log.warning("listen: %s: the lease could not be renewed for %.1fs (%s); stopping polling",
                                name, lease.seconds, exc)
                    return False
                log.warning("listen: %s: the lease could not be renewed (%s); polling on while it holds", name, exc)
    finally:
        await _stop(task, inner)


async def _listen(make: Callable[[], Listener], stop: asyncio.Event) -> None:
    await make().run(stop)


async def _stop(task: asyncio.Task[None], inner: asyncio.Event) -> None:
    """Tell the listener to stop; cancel it if it has not within STOP_GRACE."""
    inner.set()
    if not (await asyncio.wait({task}, timeout=STOP_GRACE))[0]:
        # Whatever is in flight is dropped: nothing is confirmed to a channel before it is stored.
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _log_ended(name: str, task: asyncio.Task[None], pause: float) -> None:
    error = None if task.cancelled() else task.exception()
    log.error("listen: %s: the listener ended by itself (%s); releasing the channel, retrying in %.1fs", name,
              f"{type(error).__name__}: {error}" if error else "no error", pause, exc_info=error)


async def _release(name: str, lease: Lease) -> None:
    try:
        await asyncio.to_thread(lease.release)
    except RedisError as exc:  # it runs out by itself then
        log.warning("listen: %s: could not release the lease (%s); it runs out within %.0fs", name, exc, lease.seconds)


async def _wait(stop: asyncio.Event, seconds: float, task: asyncio.Task[None] | None = None) -> None:
    """Wait `seconds`, less if `stop` is set or `task` ends first."""
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping} if task is None else {stopping, task}, timeout=max(0.0, seconds),
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
