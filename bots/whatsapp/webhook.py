"""The Cloud API webhook in `crophub web`: GET answers Meta's verification request, POST takes notifications
signed with the app's secret (X-Hub-Signature-256), stores them, then answers 200."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from bots.whatsapp.config import WhatsAppSettings
from bots.whatsapp import NAME as CHANNEL
from bots.whatsapp.parse import parse_payload, receipts
from ingest.intake import Batch, Intake

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Hub-Signature-256"


def signature(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends with `body`: "sha256=" and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verifier(verify_token: str) -> Any:
    """The GET handler Meta calls when the webhook is set up: the challenge back for the right verify token."""
    expected = verify_token.encode()

    async def verify(request: web.Request) -> web.Response:
        given = request.query.get("hub.verify_token", "").encode()
        if request.query.get("hub.mode") != "subscribe" or not hmac.compare_digest(given, expected):
            log.warning("whatsapp webhook: refused a verification request from %s: wrong mode or verify token",
                        request.remote)
            return web.Response(status=403, text="forbidden")
        return web.Response(text=request.query.get("hub.challenge", ""))

    return verify


def receiver(app_secret: str, intake: Intake) -> Any:
    """The POST handler: a wrong or missing signature gets 403; a signed notification is stored, then answered 200."""

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), signature(app_secret, body).encode()):
            log.warning("whatsapp webhook: refused a request from %s: wrong or missing %s", request.remote,
                        SIGNATURE_HEADER)
            return web.Response(status=403, text="forbidden")
        try:
            raw = json.loads(body)
        except ValueError as exc:
            log.warning("whatsapp webhook: body is not JSON: %s", exc)
            return web.Response(status=400, text="body is not JSON")
        batch = Batch()
        for item in parse_payload(raw):
            batch.add(item)
        # Malformed items are stored as rejected and still answered 200: Meta would only send them again. A store
        # that fails answers 500, and Meta delivers the notification again later.
        await asyncio.to_thread(intake.accept, batch)
        # Then the status callbacks onto the replies they are about (applying one twice changes nothing, so a
        # failure here, answered 500, is mended by Meta's redelivery).
        await asyncio.to_thread(intake.receipts, CHANNEL, receipts(raw))
        return web.Response(text="ok")

    return receive


def route(app: web.Application, path: str, verify_token: str, app_secret: str, intake: Intake) -> None:
    """Mount the verification and notification handlers on `app` at `path`."""
    if not verify_token or not app_secret:  # an empty secret would let anyone sign
        raise ValueError("whatsapp webhook: the verify token and the app secret must both be set")
    app.router.add_get(path, verifier(verify_token))
    app.router.add_post(path, receiver(app_secret, intake))


def mount(app: web.Application, settings: WhatsAppSettings, intake: Intake) -> None:
    """The webhook as `crophub web` serves it (the channel is on: both secrets are set)."""
    route(app, settings.webhook_path, settings.secret("verify_token_env") or "", settings.secret("app_secret_env") or "",
          intake)
    log.info("whatsapp: webhook at %s", settings.webhook_path)
