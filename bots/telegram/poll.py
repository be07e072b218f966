"""Long polling: getUpdates, store the batch, and only then confirm the offset to Telegram."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from telegram import Bot

from ingest import listen
from bots.base import coerce
from bots.telegram.config import TelegramSettings
from bots.telegram.parse import bot_id_of, parse_update
from bots.telegram.request import AiohttpRequest
from bots.telegram.send import make_bot
from ingest.intake import Batch, Intake

log = logging.getLogger(__name__)


class RawBot(Bot):
    """A Bot whose getUpdates returns the raw JSON, so one malformed update cannot spoil a batch."""

    async def get_raw_updates(self, offset: int | None, limit: int, timeout: int) -> list[Any]:
        """Call getUpdates and return its result list as Telegram sent it."""
        result = await self._post(
            "getUpdates",
            {"offset": offset, "limit": limit, "timeout": timeout},
            read_timeout=timeout + 10,
        )
        return result if isinstance(result, list) else []


class Poller:
    """One bot's getUpdates loop."""

    def __init__(self, settings: TelegramSettings | Mapping[str, Any], intake: Intake) -> None:
        self.settings = coerce(TelegramSettings, settings)
        token = self.settings.token or ""
        # Not connection_pool: that sizes a sender. Besides getUpdates (on a connection of its own) the poller
        # makes a few calls only (getMe, deleteWebhook).
        self.bot: RawBot = make_bot(self.settings, token, pool=2, cls=RawBot,
                                    get_updates_request=AiohttpRequest(connection_pool_size=1))  # type: ignore[assignment]
        self.bot_id = bot_id_of(token)
        self.intake = intake
        self.timeout = self.settings.poll_timeout
        self.limit = self.settings.poll_limit
        self.batch_wait = self.settings.poll_batch_wait
        self.cursor_name = f"telegram:{self.bot_id}:offset"
        self.offset: int | None = None
        self.started = False

    async def start(self) -> None:
        """Check the token (getMe), drop any webhook so getUpdates works, and load the saved offset."""
        await self.bot.initialize()
        await self.bot.delete_webhook(drop_pending_updates=False)
        saved = await asyncio.to_thread(self.intake.cursor, self.cursor_name)
        self.offset = int(saved) if saved else None
        self.started = True
        log.info("telegram: polling as @%s from offset %s", self.bot.username, self.offset)

    async def poll_once(self) -> int:
        """Fetch one batch, store it, advance the offset; returns how many updates came."""
        updates = await self.bot.get_raw_updates(self.offset, self.limit, self.timeout)
        if not updates:
            return 0
        now = datetime.now(timezone.utc)
        batch = Batch()
        for raw in updates:
            batch.add(parse_update(raw, self.bot_id, now))
        ids = [u["update_id"] for u in updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        if ids:
            batch.cursor = (self.cursor_name, str(max(ids) + 1))
        # Persist first; the next getUpdates with the new offset is what confirms these to Telegram.
        await asyncio.to_thread(self.intake.accept, batch)
        if ids:
            self.offset = max(ids) + 1
        return len(updates)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set, backing off on errors."""
        async def step() -> None:
            if not self.started:  # first step, or a start that failed
                await self.start()
            count = await self.poll_once()
            if 0 < count < self.limit and self.batch_wait:
                # Let a few more updates gather: every batch costs a transaction and two jobs, so
                # a short wait under moderate load buys far more throughput than it costs latency.
                await asyncio.sleep(self.batch_wait)

        try:
            await listen.forever("telegram poller", step, stop)
        finally:
            await self.bot.shutdown()


def listener(settings: TelegramSettings, intake: Intake) -> Poller:
    """The bot's long-polling loop, as `crophub listen` runs it."""
    return Poller(settings, intake)
