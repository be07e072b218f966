"""An aiohttp app served on an ephemeral 127.0.0.1 port from its own thread and loop, for the fake servers
that real (often synchronous) client libraries are pointed at in tests."""
from __future__ import annotations

import asyncio
import threading
from typing import Any, TypeVar

from aiohttp import web

S = TypeVar("S", bound="LoopbackServer")


class LoopbackServer:
    """Subclasses give app() and, for loop-bound state, on_loop(); start() returns once the port answers."""

    name = "fake server"
    shutdown_timeout = 60.0  # aiohttp's default; a server holding streams open may want less

    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def app(self) -> web.Application:
        """The aiohttp application to serve."""
        raise NotImplementedError

    async def on_loop(self) -> None:
        """Create what must belong to the serving loop (events, queues), before the first request."""

    async def start_serving(self) -> None:
        """Start serving on an ephemeral 127.0.0.1 port on the running loop."""
        self._loop = asyncio.get_running_loop()
        await self.on_loop()
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self: S) -> S:
        """Serve from a background thread with its own loop (so synchronous code can call it)."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            loop.run_until_complete(self.start_serving())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            loop.close()

        self._thread = threading.Thread(target=main, name=self.name, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} did not start")
        return self

    def stop(self) -> None:
        """Stop the background server."""
        if self._loop and self._thread:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self: S) -> S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
