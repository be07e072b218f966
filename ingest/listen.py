"""Reconnect with backoff, written once for every listener (the chat channels in bots/ and the feeds in ingest/)."""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


async def forever(
    name: str,
    step: Callable[[], Awaitable[None]],
    stop: asyncio.Event,
    first_delay: float = 1.0,
    max_delay: float = 60.0,
) -> None:
    """Call `step` until `stop` is set; after a failure wait with capped, jittered exponential backoff."""
    delay = first_delay
    while not stop.is_set():
        try:
            await step()
            delay = first_delay
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a listener must outlive any one failure
            wait = min(max_delay, delay) * random.uniform(0.8, 1.2)
            log.warning("%s: %s: %s; retrying in %.1fs", name, type(exc).__name__, exc, wait)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass
            delay = min(max_delay, delay * 2)
