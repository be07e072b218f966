"""What the WhatsApp and Messenger webhooks share, both being Meta's: the GET verification handshake, the POST
signature (X-Hub-Signature-256: the hex HMAC-SHA256 of the raw body keyed with the app's secret), and storing a
signed notification before answering 200."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any, Awaitable, Callable, Iterable

from aiohttp import web

from ingest.intake import Batch, Intake, Skipped, payload_key
from ingest.message import Message, Receipt

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
ANSWER = "EVENT_RECEIVED"  # what Meta's examples answer; Meta reads only the 200

Handler = Callable[[web.Request], Awaitable[web.Response]]
Parse = Callable[[Any], Iterable[Message | Skipped]]  # a notification's messages, skipped and rejected items
Receipts = Callable[[Any], list[Receipt]]  # what a notification says about our replies


def signature(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends with `body`: "sha256=" and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def refusal(given: str, body: bytes, app_secret: str) -> str | None:
    """Why a POST's signature is refused, or None when it is Meta's."""
    if not given:
        return f"no {SIGNATURE_HEADER} header"
    if not given.startswith("sha256="):
        return f"{SIGNATURE_HEADER} is not sha256=<hex>"
    if not hmac.compare_digest(given.encode(), signature(app_secret, body).encode()):
        return "signature does not match the body (wrong app secret, or the body was changed)"
    return None


def verifier(channel: str, verify_token: str) -> Handler:
    """Meta's handshake: hub.mode=subscribe with our verify token is answered with hub.challenge, anything else 403."""
    expected = verify_token.encode()

    async def verify(request: web.Request) -> web.Response:
        query = request.query
        given = query.get("hub.verify_token", "").encode()
        if query.get("hub.mode") != "subscribe" or not hmac.compare_digest(given, expected):
            log.warning("%s webhook: refused a verification request from %s: wrong mode or verify token", channel,
                        request.remote)
            return web.Response(status=403, text="forbidden")
        log.info("%s webhook: verified by Meta", channel)
        return web.Response(text=query.get("hub.challenge", ""))

    return verify


def receiver(channel: str, app_secret: str, intake: Intake, parse: Parse, receipts: Receipts | None = None) -> Handler:
    """Signed notifications: checked (403 otherwise), stored (a malformed one as rejected), their receipts applied to
    our replies, then answered 200."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        refused = refusal(request.headers.get(SIGNATURE_HEADER, ""), body, app_secret)
        if refused:
            log.warning("%s webhook: refused a POST from %s: %s", channel, request.remote, refused)
            return web.Response(status=403, text="forbidden")
        raw, items = _decode(channel, body, parse)
        batch = Batch()
        for item in items:
            batch.add(item)
        # Stored before the 200: a store that fails answers 500 and Meta delivers the notification again.
        await asyncio.to_thread(intake.accept, batch)
        if receipts is not None and raw is not None:
            # Applying a receipt twice changes nothing, so a failure here, answered 500, is mended by redelivery.
            await asyncio.to_thread(intake.receipts, channel, receipts(raw))
        return web.Response(text=ANSWER)

    return receive


def _decode(channel: str, body: bytes, parse: Parse) -> tuple[Any, list[Message | Skipped]]:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        # Signed by Meta yet not JSON: kept as rejected and answered 200, since sending it again cannot mend it.
        text = body.decode("utf-8", "replace")[:10000]
        log.warning("%s webhook: a signed body is not JSON, stored as rejected: %s", channel, exc)
        return None, [Skipped(channel, payload_key(text), "rejected", f"body is not JSON: {exc}", {"payload": text})]
    return raw, list(parse(raw))


def route(app: web.Application, channel: str, path: str, secrets: tuple[str, str], intake: Intake, parse: Parse,
          receipts: Receipts | None = None) -> None:
    """Mount the handshake (GET) and the receiver (POST) on `app` at `path`; `secrets` = (verify token, app secret)."""
    verify_token, app_secret = secrets
    if not verify_token or not app_secret:  # an empty secret would let anyone sign
        raise ValueError(f"{channel} webhook: the verify token and the app secret must both be set")
    app.router.add_get(path, verifier(channel, verify_token))
    app.router.add_post(path, receiver(channel, app_secret, intake, parse, receipts))
