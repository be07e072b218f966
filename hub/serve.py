"""Serving the aiohttp app of `crophub web`: bind, say so once bound, stop on SIGINT/SIGTERM."""
from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
from typing import TYPE_CHECKING

from hub.errors import EX_CONFIG, Fatal

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("crophub")

# How long requests in flight may take to finish once asked to stop (aiohttp's run_app default).
SHUTDOWN_TIMEOUT = 60.0


def cannot_listen(host: str, port: int, exc: OSError) -> Fatal:
    """The one line for a web.host/web.port that cannot be bound, as a configuration error."""
    if exc.errno == errno.EADDRINUSE:
        why = "address already in use (is another crophub running? set web.port)"
    elif exc.errno == errno.EACCES:
        why = "permission denied (ports below 1024 need root: set web.port)"
    else:
        why = f"{exc.strerror or exc} (set web.host)"
    return Fatal(f"web: cannot listen on {host}:{port}: {why}", EX_CONFIG)


def check_port(host: str, port: int) -> None:
    """Raise Fatal now if host:port cannot be bound, before anything else is started for it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise cannot_listen(host, port, OSError(exc.errno, exc.strerror)) from None
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # As aiohttp binds (reuse_address on Unix), so a port in TIME_WAIT is not reported as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                raise cannot_listen(host, port, exc) from None


def serve(app: web.Application, host: str, port: int, access_log: logging.Logger | None) -> None:
    """Serve `app` on host:port until SIGINT or SIGTERM; Fatal (EX_CONFIG) if it cannot bind."""
    asyncio.run(_serve(app, host, port, access_log))


async def _serve(app: web.Application, host: str, port: int, access_log: logging.Logger | None) -> None:
    from aiohttp import web

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # from the start: a stop asked for while starting is kept
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=access_log, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()  # runs the app's on_startup (e.g. registering the Telegram webhook)
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise cannot_listen(host, port, exc) from None
        bound = runner.addresses[0][1] if runner.addresses else port  # the real one when web.port is 0
        # Only now, bound: a URL said before this may not have been reachable yet.
        log.info("web: listening on http://%s:%d (public map and statistics at /, web chat /chat, officers /crop, "
                 "Open311 /open311/v2/, health /healthz and /readyz, metrics /metrics)",
                 f"[{host}]" if ":" in host else host, bound)
        await stop.wait()
    finally:
        await runner.cleanup()
