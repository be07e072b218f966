"""The `webchat:` section of config.yaml: the chat page of `crophub web` (/chat)."""
from __future__ import annotations

from bots.base import ChannelSettings


class WebChatSettings(ChannelSettings):
    enabled: bool = True  # false: /chat and its API answer 404

    def status(self) -> str | None:
        """None when the chat page is served; otherwise the line that says how to turn it on."""
        return None if self.enabled else "webchat: channel off: set webchat.enabled: true to serve the chat page"

    def listens(self) -> bool:
        """The page posts to `crophub web`: there is nothing to listen to."""
        return False
