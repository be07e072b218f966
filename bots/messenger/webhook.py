"""The webhook `crophub web` serves for the Page (Meta's handshake and signature: bots/meta.py): events stored
before the 200, then the delivery and read receipts applied to the replies they are about."""
from __future__ import annotations

import logging

from aiohttp import web

from bots import meta
from bots.messenger import NAME as CHANNEL
from bots.messenger.config import MessengerSettings
from bots.messenger.parse import parse_payload, receipts
from ingest.intake import Intake

log = logging.getLogger(__name__)
SIGNATURE_HEADER = meta.SIGNATURE_HEADER


def route(app: web.Application, path: str, verify_token: str, app_secret: str, intake: Intake) -> None:
    """Mount the verification handshake (GET) and the event receiver (POST) on `app` at `path`."""
    meta.route(app, CHANNEL, path, (verify_token, app_secret), intake, parse_payload, receipts)


def mount(app: web.Application, settings: MessengerSettings, intake: Intake) -> None:
    """The webhook as `crophub web` serves it (the App Dashboard's Callback URL points at webhook_path)."""
    route(app, settings.webhook_path, settings.verify_token or "", settings.app_secret or "", intake)
    log.info("messenger: webhook at %s", settings.webhook_path)
