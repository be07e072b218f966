"""The few IMAP steps the inbox needs, over aioimaplib: connect (SSL, STARTTLS or plain), read responses."""
from __future__ import annotations

import asyncio
import re
import ssl
from typing import Any, Awaitable, Callable, TypeVar

from aioimaplib import IMAP4, Command, Response

T = TypeVar("T")
_FETCH = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")


class ImapError(Exception):
    """The IMAP server refused a command or answered in a way we cannot use."""


def ok(response: Response, what: str) -> Response:
    """The response, if the server said OK; else ImapError naming the command and the server's words."""
    if response.result != "OK":
        said = response.lines[-1] if response.lines else b""
        said = said.decode("utf-8", "replace") if isinstance(said, (bytes, bytearray)) else str(said)
        raise ImapError(f"{what}: {response.result} {said}".strip())
    return response


async def within(seconds: float, what: str, call: Awaitable[T]) -> T:
    """Await `call`, but at most `seconds` (some aioimaplib commands have no timeout of their own)."""
    try:
        return await asyncio.wait_for(call, seconds)
    except asyncio.TimeoutError:
        raise ImapError(f"{what}: no answer within {seconds:g}s") from None


async def open_client(host: str, port: int, security: str, context: ssl.SSLContext | None, timeout: float,
                      on_lost: Callable[[Exception | None], None]) -> IMAP4:
    """A connected client past the server's greeting: TLS from the start (ssl), upgraded (starttls) or plain."""
    client = IMAP4(host=host, port=port, timeout=timeout, conn_lost_cb=on_lost,
                   ssl_context=context if security == "ssl" else None)
    try:
        await client.wait_hello_from_server()
        if security == "starttls":
            await starttls(client, host, context or ssl.create_default_context(), timeout)
    except BaseException:
        # A failed greeting or STARTTLS must not leave a socket open on every reconnect attempt.
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()
        raise
    return client


async def starttls(client: IMAP4, host: str, context: ssl.SSLContext, timeout: float) -> None:
    """Upgrade the connection with STARTTLS (aioimaplib 2 has no command for it) and re-read capabilities."""
    if not client.has_capability("STARTTLS"):
        raise ImapError("security is starttls but the server does not offer STARTTLS")
    protocol = client.protocol
    ok(await within(timeout, "STARTTLS", protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))),
       "STARTTLS")
    loop = asyncio.get_running_loop()
    protocol.transport = await within(timeout, "TLS handshake", loop.start_tls(
        protocol.transport, protocol, context, server_hostname=host))
    # Capabilities seen before TLS may have been cut down (LOGINDISABLED) or tampered with: ask again.
    await within(timeout, "CAPABILITY", protocol.capability())


def search_uids(response: Response) -> list[int]:
    """UIDs from a UID SEARCH response (its "* SEARCH 1 2 3" line, sorted)."""
    uids: set[int] = set()
    for line in response.lines[:-1]:  # the last line is the tagged completion text
        if isinstance(line, (bytes, bytearray)) and re.fullmatch(rb"[\d ]*", bytes(line).strip()):
            uids.update(int(n) for n in bytes(line).split())
    return sorted(uids)


def fetch_sizes(response: Response) -> dict[int, int]:
    """uid → RFC822.SIZE from a UID FETCH (UID RFC822.SIZE) response."""
    sizes: dict[int, int] = {}
    for line in response.lines:
        if isinstance(line, bytes) and _FETCH.match(line):
            uid, size = _UID.search(line), _SIZE.search(line)
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
    return sizes


def fetch_literal(response: Response) -> bytes | None:
    """The literal (message or header bytes) of a one-message UID FETCH response, or None if it had none."""
    for line in response.lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None


def uid_set(uids: list[int]) -> str:
    """"1:3,7" for [1, 2, 3, 7]: runs collapsed, so STORE commands stay short."""
    runs: list[list[int]] = []
    for uid in sorted(set(uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def watch_exists(client: IMAP4, seen: Callable[[], Any]) -> None:
    """Call `seen` whenever the server reports more mail ("* n EXISTS" with a larger n), whatever command
    it came with.

    aioimaplib drops untagged responses that arrive with an unrelated command (e.g. during UID STORE);
    without this a mail arriving between our SEARCH and our IDLE would wait for the next IDLE renewal.
    A repeated count is not new mail: reacting to it would search again and again without waiting."""
    protocol = client.protocol
    original = protocol._untagged_response
    count = {"last": -1}  # installed after SELECT: the first count heard of is news

    def untagged(line: bytes) -> Any:
        words = line.split()
        if len(words) == 3 and words[2].upper() == b"EXISTS" and words[1].isdigit():
            n = int(words[1])
            if n > count["last"]:
                seen()
            count["last"] = n
        return original(line)

    protocol._untagged_response = untagged
