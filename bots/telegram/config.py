"""The `telegram:` section of config.yaml: one bot, read by long polling or a webhook."""
from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bots.base import ChannelSettings


class TelegramWebhookSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = None  # the public HTTPS address Telegram posts updates to
    path: str = Field("/telegram/webhook", pattern=r"^/")  # where `crophub web` receives them
    secret_env: str = "CROPHUB_TELEGRAM_WEBHOOK_SECRET"  # Telegram sends its value back with every update


class TelegramSettings(ChannelSettings):
    token_env: str = "CROPHUB_TELEGRAM_TOKEN"
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: str = Field("https://api.telegram.org/bot", pattern=r"^https?://")  # or a self-hosted Bot API server
    file_base_url: str = Field("https://api.telegram.org/file/bot", pattern=r"^https?://")
    poll_timeout: int = Field(30, ge=0, le=50)  # seconds getUpdates waits for an update (long polling)
    poll_limit: int = Field(100, ge=1, le=100)  # updates per getUpdates
    poll_batch_wait: float = Field(0.05, ge=0, le=5)  # seconds to gather a burst into one stored batch
    connection_pool: int = Field(8, ge=1, le=256)  # HTTP connections a sender keeps to the Bot API
    webhook: TelegramWebhookSettings = TelegramWebhookSettings()

    @property
    def token(self) -> str | None:
        """The bot token from the environment, or None when the channel is off."""
        return os.environ.get(self.token_env) or None

    @property
    def webhook_secret(self) -> str | None:
        """The webhook secret_token from the environment."""
        return os.environ.get(self.webhook.secret_env) or None

    def status(self) -> str | None:
        """None when Telegram can run; otherwise the one line that says it is off and how to turn it on."""
        if not self.token:
            return (f"telegram: channel off: no bot token. To turn it on, export {self.token_env}=<token from "
                    f"@BotFather> (and set telegram.api_base_url for a self-hosted Bot API server)")
        if self.mode == "webhook" and not (self.webhook.url and self.webhook_secret):
            return (f"telegram: channel off: webhook mode needs telegram.webhook.url in the config and a secret "
                    f"in {self.webhook.secret_env}")
        return None

    def listens(self) -> bool:
        """Long polling runs in `crophub listen`; in webhook mode updates arrive through `crophub web`."""
        return self.mode == "polling"

    def serves(self) -> bool:
        """In webhook mode `crophub web` receives the updates."""
        return self.mode == "webhook"

    def sender_config(self) -> dict[str, Any]:
        """The plain data a Telegram sender or poller is built from, in any worker."""
        return self.model_dump(mode="json")
