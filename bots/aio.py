"""One event loop per process in a background thread, so synchronous jobs can await senders."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    """This process's background loop, started on first use; senders and their pools live on it."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="crophub-aio", daemon=True).start()
        return _loop


def started() -> bool:
    """Whether this process's background loop is running (something has used it)."""
    return _loop is not None and _loop.is_running()


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run `coro` on the background loop and wait for its result; it is cancelled if the wait ends early."""
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result(timeout)
    except BaseException:  # a timeout, or RQ's job timeout raised in this thread: stop the coroutine too
        future.cancel()
        raise
