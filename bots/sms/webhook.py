"""The inbound webhook: check the gateway's shared secret or HMAC signature, store, then answer 200."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bots.sms.config import SmsInboundSettings, SmsSettings
from bots.sms.parse import masked, parse
from ingest.intake import Batch, Intake, Skipped, payload_key

log = logging.getLogger(__name__)

# Twilio reads the answer as TwiML: an empty <Response/> sends nothing back (our replies go through the outbox).
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def refusal(inbound: SmsInboundSettings, secret: str, headers: Any, body: bytes) -> str | None:
    """Why the request does not prove it is the gateway's (None: it does)."""
    if not secret:  # an HMAC keyed with "" is one anybody can compute
        return "no webhook secret configured"
    given = headers.get(inbound.header)
    if not given:
        return f"no {inbound.header} header"
    if inbound.auth == "secret":
        return None if hmac.compare_digest(given.encode(), secret.encode()) else f"wrong secret in {inbound.header}"
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    if inbound.signature_encoding == "hex":
        expected = digest.hex()
        given = given.strip().lower().removeprefix("sha256=")
    else:
        expected = base64.b64encode(digest).decode()
        given = given.strip()
    return None if hmac.compare_digest(given.encode(), expected.encode()) else f"wrong signature in {inbound.header}"


def decode(content_type: str, body: bytes) -> tuple[Any, str | None]:
    """The payload of a form-encoded or JSON body; and why it is unreadable (None: it is readable)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"body": body[:2000].decode("utf-8", "replace")}, "body is not UTF-8"
    if content_type == "application/json":
        try:
            return json.loads(text), None
        except ValueError as exc:
            return {"body": text[:2000]}, f"body is not JSON: {exc}"
    if content_type in ("application/x-www-form-urlencoded", ""):
        # Twilio and Vonage (POST) send each field once; a repeated field keeps its last value.
        return dict(parse_qsl(text, keep_blank_values=True)), None
    return {"body": text[:2000]}, f"unsupported content type {content_type}"


def handler(settings: SmsSettings, secret: str, intake: Intake) -> Any:
    """An aiohttp handler for the inbound webhook; a wrong or missing secret or signature gets 403."""
    fields = settings.inbound_fields()
    twiml = settings.preset == "twilio"

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        why = refusal(settings.inbound, secret, request.headers, body)
        if why:
            log.warning("sms webhook: refused a request from %s: %s", request.remote, why)
            return web.Response(status=403, text="forbidden")
        raw, unreadable = decode(request.content_type, body)
        batch = Batch()
        if unreadable:
            log.warning("sms webhook: stored an unreadable request as rejected: %s", unreadable)
            batch.add(Skipped("sms", payload_key(raw), "rejected", unreadable, raw))
        else:
            item = parse(raw, fields)
            batch.add(item)
            if isinstance(item, Skipped):
                log.info("sms webhook: %s %s: %s", item.status, item.key, item.reason)
            else:
                log.info("sms webhook: received %s from %s", item.key, masked(item.sender.id))
        # Stored before the answer; a malformed payload is stored as rejected and still answered 200, or the
        # gateway would resend it (Vonage for 24 hours).
        await asyncio.to_thread(intake.accept, batch)
        if twiml:
            return web.Response(text=TWIML_EMPTY, content_type="text/xml")
        return web.Response(text="ok")

    return receive


def mount(app: web.Application, settings: SmsSettings, intake: Intake) -> None:
    """The inbound webhook as `crophub web` serves it (POST at sms.inbound.path)."""
    app.router.add_post(settings.inbound.path, handler(settings, settings.webhook_secret or "", intake))
