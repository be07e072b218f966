"""The inbound webhook: check that the request is the gateway's (bots/sms/auth.py), store it (a part of a long SMS
joined with the rest: bots/sms/concat.py), keep what a delivery report says on the reply's outbox row, then answer
200."""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bots.sms.auth import refusal
from bots.sms.config import SmsSettings
from bots.sms import concat
from bots.sms.parse import masked, parse, receipts
from ingest.intake import Intake, Skipped, payload_key
from ingest.message import Message

log = logging.getLogger(__name__)

# Twilio reads the answer as TwiML: an empty <Response/> sends nothing back (our replies go through the outbox).
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


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


def handler(settings: SmsSettings, key: str, intake: Intake) -> Any:
    """An aiohttp handler for the inbound webhook; a wrong or missing secret or signature gets 403. `key`: Twilio's
    auth token or the shared secret (settings.inbound_key)."""
    fields = settings.inbound_fields()
    twiml = settings.preset == "twilio"

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        why = refusal(settings.inbound, key, request.headers, body, str(request.url), request.content_type)
        if why:
            log.warning("sms webhook: refused a request from %s: %s", request.remote, why)
            return web.Response(status=403, text="forbidden")
        raw, unreadable = decode(request.content_type, body)
        item: Message | Skipped
        if unreadable:
            log.warning("sms webhook: stored an unreadable request as rejected: %s", unreadable)
            item = Skipped("sms", payload_key(raw), "rejected", unreadable, raw)
        else:
            item = parse(raw, fields)
            if isinstance(item, Skipped):
                log.info("sms webhook: %s %s: %s", item.status, item.key, item.reason)
            else:
                log.info("sms webhook: received %s from %s", item.key, masked(item.sender.id))
        # Stored before the answer (a part of a long SMS too: bots/sms/concat.py); a malformed payload is stored
        # as rejected and still answered 200, or the gateway would resend it (Vonage for 24 hours). A failure to
        # store answers 500: the gateway sends it again.
        await asyncio.to_thread(concat.accept, intake, item, fields, settings.inbound.concat_wait)
        if not unreadable:
            # Applying a report twice changes nothing, so a failure here, answered 500, is mended by redelivery.
            await asyncio.to_thread(intake.receipts, "sms", receipts(raw))
        if twiml:
            return web.Response(text=TWIML_EMPTY, content_type="text/xml")
        return web.Response(text="ok")

    return receive


def mount(app: web.Application, settings: SmsSettings, intake: Intake) -> None:
    """The inbound webhook as `crophub web` serves it (POST at sms.inbound.path)."""
    app.router.add_post(settings.inbound.path, handler(settings, settings.inbound_key or "", intake))
