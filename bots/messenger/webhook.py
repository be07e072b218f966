"""The webhook `crophub web` serves: Meta's GET verification handshake, and signed POSTs stored before the 200."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Awaitable, Callable

from aiohttp import web

from bots.messenger import NAME as CHANNEL
from bots.messenger.config import MessengerSettings
from bots.messenger.parse import parse_payload
from ingest.intake import Batch, Intake, Skipped, payload_key
from ingest.message import Message

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"

_Handler = Callable[[web.Request], Awaitable[web.Response]]


def signature(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends with `body`: "sha256=" and the hex HMAC-SHA256 under the App Secret."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _refusal(given: str, body: bytes, app_secret: str) -> str | None:
    """Why a POST's signature is refused, or None when it is Meta's."""
    if not given:
        return f"no {SIGNATURE_HEADER} header"
    if not given.startswith("sha256="):
        return f"{SIGNATURE_HEADER} is not sha256=<hex>"
    if not hmac.compare_digest(given.encode(), signature(body, app_secret).encode()):
        return "signature does not match the body (wrong App Secret, or the body was changed)"
    return None


def verifier(verify_token: str) -> _Handler:
    """Meta's handshake: hub.mode=subscribe with our verify token is answered with hub.challenge, anything else 403."""
    expected = verify_token.encode()

    async def verify(request: web.Request) -> web.Response:
        query = request.query
        given = query.get("hub.verify_token", "").encode()
        if query.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(given, expected):
            log.warning("messenger webhook: refused a verification request from %s: wrong mode or verify token",
                        request.remote)
            return web.Response(status=403, text="forbidden")
        log.info("messenger webhook: verified by Meta")
        return web.Response(text=query.get("hub.challenge", ""))

    return verify


def receiver(app_secret: str, intake: Intake) -> _Handler:
    """Signed event notifications: checked, stored (a malformed one as rejected), then answered 200."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        refused = _refusal(request.headers.get(SIGNATURE_HEADER, ""), body, app_secret) if app_secret else "no App Secret"
        if refused:
            log.warning("messenger webhook: refused a POST from %s: %s", request.remote, refused)
            return web.Response(status=403, text="forbidden")
        batch = Batch()
        for item in _items(body):
            batch.add(item)
        # Stored before the 200: an error here answers 500 and Meta delivers the events again.
        await asyncio.to_thread(intake.accept, batch)
        return web.Response(text="EVENT_RECEIVED")

    return receive


def _items(body: bytes) -> list[Message | Skipped]:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        # Signed by Meta yet not JSON: kept as rejected and answered 200, since sending it again cannot mend it.
        text = body.decode("utf-8", "replace")[:10000]
        return [Skipped(CHANNEL, payload_key(text), "rejected", f"body is not JSON: {exc}", {"payload": text})]
    return list(parse_payload(raw))


def route(app: web.Application, path: str, verify_token: str, app_secret: str, intake: Intake) -> None:
    """Mount the verification handshake (GET) and the event receiver (POST) on `app` at `path`."""
    app.router.add_get(path, verifier(verify_token))
    app.router.add_post(path, receiver(app_secret, intake))


def mount(app: web.Application, settings: MessengerSettings, intake: Intake) -> None:
    """The webhook as `crophub web` serves it (the App Dashboard's Callback URL points at webhook_path)."""
    route(app, settings.webhook_path, settings.verify_token or "", settings.app_secret or "", intake)
