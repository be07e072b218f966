"""python-telegram-bot's HTTP requests made with aiohttp instead of httpx: the same Bot, a lighter client.

Measured by bench/send.py (issue 21): one sendMessage cost about 1.0 ms of CPU through PTB's HTTPXRequest and about
a quarter of that through this class, on loopback, with PTB's own parameter encoding and error handling either way."""
from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_UNSET = type(BaseRequest.DEFAULT_NONE)  # what PTB passes for a timeout the caller did not give

# PTB's HTTPXRequest defaults, kept so that swapping the client changes no behaviour.
READ_TIMEOUT = 5.0  # s
WRITE_TIMEOUT = 5.0  # s (aiohttp has no write timeout of its own: it counts in the request's total)
CONNECT_TIMEOUT = 5.0  # s
POOL_TIMEOUT = 1.0  # s a request may wait for a free connection
MEDIA_WRITE_TIMEOUT = 20.0  # s for a request that uploads a file


class AiohttpRequest(BaseRequest):
    """A PTB request backend on one aiohttp session holding at most `connection_pool_size` connections."""

    def __init__(self, connection_pool_size: int = 1, read_timeout: float | None = READ_TIMEOUT,
                 connect_timeout: float | None = CONNECT_TIMEOUT, pool_timeout: float | None = POOL_TIMEOUT) -> None:
        self._pool = connection_pool_size
        self._read = read_timeout
        self._connect = connect_timeout
        self._pool_wait = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def connection_pool_size(self) -> int:
        """Connections the session keeps to the Bot API at most."""
        return self._pool

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout, s (PTB adds a long poll's own timeout to it for getUpdates)."""
        return self._read

    async def initialize(self) -> None:
        """Open the session on the running loop, unless one is open on it already."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session belongs to the loop it was opened on: a Bot used from another loop gets its own.
            connector = aiohttp.TCPConnector(limit=self._pool)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})
            self._loop = loop

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        """One HTTP request as PTB asks it (form fields, or multipart with files); → (status, body)."""
        await self.initialize()  # the Bot may be used without `initialize()`, as PTB's httpx client allows
        assert self._session is not None
        files = request_data.multipart_data if request_data and request_data.contains_files else None
        read = _given(read_timeout, self._read)
        connect = _given(connect_timeout, self._connect)
        pool = _given(pool_timeout, self._pool_wait)
        write = _given(write_timeout, MEDIA_WRITE_TIMEOUT if files else WRITE_TIMEOUT)
        data: aiohttp.FormData | dict[str, str] | None = None
        if files:
            data = aiohttp.FormData()
            for name, value in (request_data.json_parameters if request_data else {}).items():
                data.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                data.add_field(name, content, filename=filename, content_type=mimetype)
        elif request_data:
            data = request_data.json_parameters
        # A request may wait for a connection, connect, send and read: each bounded as PTB's would be.
        total = sum(t for t in (read, write, connect, pool) if t is not None) if read is not None else None
        waits = [t for t in (pool, connect) if t is not None]
        timeout = aiohttp.ClientTimeout(total=total, connect=sum(waits) if waits else None, sock_connect=connect,
                                        sock_read=read)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except asyncio.TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{err.__class__.__name__}: {err}") from err


def _given(timeout: Any, default: float | None) -> float | None:
    """A timeout PTB passed on, or `default` for one the caller did not give."""
    return default if isinstance(timeout, _UNSET) else timeout
