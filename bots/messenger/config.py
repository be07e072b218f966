"""The `messenger:` section of config.yaml: one Facebook Page, its events brought by Meta's webhook."""
from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from bots.base import ChannelSettings


class MessengerSettings(ChannelSettings):
    # The Page access token (Page settings → Messenger API, or a system user's token with pages_messaging):
    # it names the Page, so replies go to /me/messages.
    page_token_env: str = "CROPHUB_MESSENGER_PAGE_TOKEN"
    # The Meta app's App Secret: every webhook POST is signed with it (X-Hub-Signature-256).
    app_secret_env: str = "CROPHUB_MESSENGER_APP_SECRET"
    # The Verify Token typed into the App Dashboard's webhook form: Meta's GET handshake sends it back.
    verify_token_env: str = "CROPHUB_MESSENGER_VERIFY_TOKEN"
    # Where replies go: Meta's Graph API, or a fake of it in tests.
    graph_base_url: str = Field("https://graph.facebook.com", pattern=r"^https?://")
    # The Graph API version the Send API is called with; pinned so that Meta's changes arrive when we choose.
    api_version: str = Field("v25.0", pattern=r"^v\d+\.\d+$")
    # Where `crophub web` receives the webhook (the App Dashboard's Callback URL ends with it).
    webhook_path: str = Field("/messenger/webhook", pattern=r"^/")
    request_timeout: float = Field(15.0, gt=0, le=120)  # seconds a Send API call may take
    connection_pool: int = Field(8, ge=1, le=256)  # HTTP connections a sender keeps to the Graph API
    # Seconds to wait when Meta says "too many calls" without a Retry-After (Graph API rate limits name none).
    rate_limit_wait: float = Field(60.0, gt=0, le=3600)

    @property
    def page_token(self) -> str | None:
        """The Page access token from the environment, or None when the channel is off."""
        return os.environ.get(self.page_token_env) or None

    @property
    def app_secret(self) -> str | None:
        """The App Secret that signs webhook payloads, from the environment."""
        return os.environ.get(self.app_secret_env) or None

    @property
    def verify_token(self) -> str | None:
        """The webhook verify token, from the environment."""
        return os.environ.get(self.verify_token_env) or None

    def status(self) -> str | None:
        """None when Messenger can run; otherwise the one line that says it is off and how to turn it on."""
        missing = [env for env, value in ((self.page_token_env, self.page_token), (self.app_secret_env, self.app_secret),
                                          (self.verify_token_env, self.verify_token)) if not value]
        if missing:
            return (f"messenger: channel off: to turn it on, export {'=..., '.join(missing)}=... (the Page access "
                    f"token, the Meta app's App Secret, the webhook Verify Token) and point the app's webhook at "
                    f"https://<your host>{self.webhook_path}")
        return None

    def listens(self) -> bool:
        """Meta pushes events to the webhook: there is nothing for `crophub listen` to run."""
        return False

    def serves(self) -> bool:
        """`crophub web` receives the Page's events."""
        return True

    def sender_config(self) -> dict[str, Any]:
        """The plain data a Messenger sender is built from, in any worker (names of secrets, not secrets)."""
        return self.model_dump(mode="json")
