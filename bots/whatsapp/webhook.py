"""The Cloud API webhook in `crophub web` (Meta's handshake and signature: bots/meta.py): messages stored before
the 200, then the status callbacks applied to the replies they are about."""
from __future__ import annotations

import logging

from aiohttp import web

from bots import meta
from bots.whatsapp import NAME as CHANNEL
from bots.whatsapp.config import WhatsAppSettings
from bots.whatsapp.parse import parse_payload, receipts
from ingest.intake import Intake

log = logging.getLogger(__name__)


def route(app: web.Application, path: str, verify_token: str, app_secret: str, intake: Intake) -> None:
    """Mount the verification and notification handlers on `app` at `path`."""
    meta.route(app, CHANNEL, path, (verify_token, app_secret), intake, parse_payload, receipts)


def mount(app: web.Application, settings: WhatsAppSettings, intake: Intake) -> None:
    """The webhook as `crophub web` serves it (the channel is on: both secrets are set)."""
    route(app, settings.webhook_path, settings.secret("verify_token_env") or "", settings.secret("app_secret_env") or "",
          intake)
    log.info("whatsapp: webhook at %s", settings.webhook_path)
