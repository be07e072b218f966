"""The `whatsapp:` section of config.yaml: the city's WhatsApp Business numbers, through Meta's Cloud API (the
Graph API). Messages arrive by webhook at `crophub web`; replies go out from the number that received them."""
from __future__ import annotations

import os

from pydantic import Field

from bots.base import ChannelSettings


class WhatsAppSettings(ChannelSettings):
    # The three secrets, from the environment; the channel is on when all three are set.
    access_token_env: str = "CROPHUB_WHATSAPP_TOKEN"  # a system user's access token with whatsapp_business_messaging
    app_secret_env: str = "CROPHUB_WHATSAPP_APP_SECRET"  # the Meta app's secret: signs every webhook POST
    verify_token_env: str = "CROPHUB_WHATSAPP_VERIFY_TOKEN"  # any string, typed again in the App Dashboard
    graph_base_url: str = Field("https://graph.facebook.com", pattern=r"^https?://")  # or a proxy, or a test server
    api_version: str = Field("v25.0", pattern=r"^v\d+\.\d+$")  # Graph API version in every request's path
    webhook_path: str = Field("/whatsapp/webhook", pattern=r"^/")  # where `crophub web` receives the webhook
    timeout: float = Field(30.0, gt=0, le=300)  # seconds one Graph API call may take
    connection_pool: int = Field(8, ge=1, le=256)  # HTTP connections a sender keeps to the Graph API
    # An approved message template (WhatsApp Manager → Message templates, category Utility) for news due after the
    # 24-hour window, when WhatsApp delivers nothing else: it tells the citizen there is news on their ticket, and
    # their answer opens the window for the held replies. Its body takes one parameter, the ticket number, e.g.
    # "Ada kabar terbaru tentang laporan {{1}} Anda. Balas pesan ini untuk membacanya." None: replies only wait.
    window_template: str | None = Field(None, pattern=r"^[a-z0-9_]{1,512}$")
    window_template_language: str = Field("id", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")  # its language, as approved

    def secret(self, env: str) -> str | None:
        """A secret from the environment variable named by one of the *_env keys."""
        return os.environ.get(getattr(self, env)) or None

    @property
    def access_token(self) -> str | None:
        """The Cloud API access token, or None when it is not set."""
        return self.secret("access_token_env")

    def status(self) -> str | None:
        """None when WhatsApp can run; otherwise the one line that says it is off and how to turn it on."""
        missing = [getattr(self, key) for key in ("access_token_env", "app_secret_env", "verify_token_env")
                   if not self.secret(key)]
        if missing:
            return (f"whatsapp: channel off: to turn it on, export {'=..., '.join(missing)}=... (the access token, "
                    f"the Meta app's secret and a verify token of your choice) and point the app's webhook at "
                    f"`crophub web`'s {self.webhook_path}")
        return None

    def listens(self) -> bool:
        """Meta posts every message to `crophub web`: there is nothing to listen to."""
        return False

    def serves(self) -> bool:
        """`crophub web` receives the webhook."""
        return True
