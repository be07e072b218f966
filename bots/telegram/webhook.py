"""Webhook mode: an aiohttp handler that checks Telegram's secret token, stores, then answers 200."""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Bot

from bots.telegram.config import TelegramSettings
from bots.telegram.parse import bot_id_of, parse_update
from bots.telegram.send import make_bot
from ingest.intake import Batch, Intake

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def handler(secret: str, bot_id: str, intake: Intake) -> Any:
    """An aiohttp handler for one bot's webhook; a wrong or missing secret gets 403."""
    expected = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("telegram webhook: refused a request from %s: wrong or missing secret token", request.remote)
            return web.Response(status=403, text="forbidden")
        try:
            raw = json.loads(await request.read())
        except ValueError as exc:
            log.warning("telegram webhook: body is not JSON: %s", exc)
            return web.Response(status=400, text="body is not JSON")
        batch = Batch()
        batch.add(parse_update(raw, bot_id))
        # A malformed update is stored as rejected and still answered 200: Telegram would only resend it.
        await asyncio.to_thread(intake.accept, batch)
        return web.Response(text="ok")

    return receive


async def register(settings: TelegramSettings, token: str, url: str, secret: str) -> None:
    """Tell Telegram where to deliver updates (setWebhook with our secret token)."""
    bot: Bot = make_bot(settings, token, pool=1)
    async with bot:
        await bot.set_webhook(url=url, secret_token=secret)
    log.info("telegram: webhook set to %s", url)


def route(app: web.Application, token: str, secret: str, intake: Intake, path: str) -> None:
    """Mount the webhook handler for this bot on `app` at `path`."""
    app.router.add_post(path, handler(secret, bot_id_of(token), intake))


def mount(app: web.Application, settings: TelegramSettings, intake: Intake) -> None:
    """The webhook as `crophub web` serves it: its route, and setWebhook once the app starts."""
    token, secret = settings.token or "", settings.webhook_secret or ""
    route(app, token, secret, intake, settings.webhook.path)

    async def set_hook(_app: web.Application) -> None:
        await register(settings, token, settings.webhook.url or "", secret)

    app.on_startup.append(set_hook)
