"""`crophub listen`: the listeners of the channels that are on (bots.CHANNELS), in one asyncio loop."""
from __future__ import annotations

import argparse
import logging
import signal
from typing import TYPE_CHECKING, Any

from hub.errors import Fatal

if TYPE_CHECKING:
    from hub.settings import Settings

log = logging.getLogger("crophub")


def cmd_listen(settings: Settings, args: argparse.Namespace) -> int:
    """Run the channel listeners: Telegram long polling, Twitter mentions, the email inbox, the Waze feed."""
    import asyncio

    from redis import Redis
    from rq import Queue

    from hub import runtime
    from ingest.intake import INTAKE_QUEUE, Intake
    from store import db

    url = runtime.redis_url_or_exit(settings)
    intake = Intake(db.configure(settings.database_url), Queue(INTAKE_QUEUE, connection=Redis.from_url(url)),
                    settings.workers.job_timeout)
    listeners = _listeners(settings, intake, args.channel)
    if not listeners:
        log.info("listen: no channel to listen on")
        return 0

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        tasks = [asyncio.create_task(listener.run(stop)) for listener in listeners]
        await stop.wait()
        # Whatever is in flight is dropped: nothing is confirmed to a channel before it is stored.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
    from bots import channel
    from bots.base import load

    # `crophub run` passes the channels it has already checked and reported, so the listen child
    # does not report the same channels off a second time.
    listeners: list[Any] = []
    for name in (channels_on(settings) if channels is None else channels):
        try:
            found = channel(name)
        except KeyError as exc:
            raise Fatal(f"listen: {exc.args[0]}") from None
        if found.listener:
            listeners.append(load(found.listener)(settings.channel(name), intake))
    return listeners
