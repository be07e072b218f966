"""The `waze:` section of config.yaml: the Waze for Cities partner feed (its parser, poller and alert tracking
live in ingest/waze, the feeds' home)."""
from __future__ import annotations

import os
from typing import Any

from pydantic import Field, field_validator

from bots.base import ChannelSettings
from ingest.waze import parse as waze_parse
from ingest.waze import track as waze_track


class WazeSettings(ChannelSettings):
    # On when feed_url is set, or the environment variable feed_url_env names is (partner feed URLs carry an
    # access token: keep them out of the file).
    feed_url: str | None = Field(None, pattern=r"^https?://")
    feed_url_env: str = "CROPHUB_WAZE_FEED_URL"
    poll_interval: float = Field(120.0, ge=5)
    timeout: float = Field(30.0, gt=0)
    max_feed_bytes: int = Field(20_000_000, ge=1000)
    max_retry_after: float = Field(900.0, ge=0)
    kinds: dict[str, str] = Field(default_factory=lambda: dict(waze_parse.DEFAULT_KINDS))
    min_jam_level: int = Field(waze_parse.DEFAULT_MIN_JAM_LEVEL, ge=0, le=5)
    min_corroboration: int = Field(waze_parse.DEFAULT_MIN_CORROBORATION, ge=0, le=waze_parse.CORROBORATION_MAX)
    misses_before_gone: int = Field(waze_track.DEFAULT_MISSES_BEFORE_GONE, ge=1, le=100)

    @field_validator("kinds")
    @classmethod
    def _upper(cls, kinds: dict[str, str]) -> dict[str, str]:
        return {key.strip().upper(): value for key, value in kinds.items()}

    def url(self) -> str | None:
        """The feed URL: from the environment variable if set, else from the file."""
        value = os.environ.get(self.feed_url_env) or self.feed_url
        return value or None

    def status(self) -> str | None:
        """None when the feed can be polled; otherwise the line that says it is off and how to turn it on."""
        url = self.url()
        if not url:
            return f"waze: feed off: set waze.feed_url, or export {self.feed_url_env}=<partner feed URL>, to turn it on"
        if not url.startswith(("http://", "https://")):
            # Not echoed: the URL carries the feed's access token.
            return f"waze: feed off: {self.feed_url_env} is not an http(s):// URL"
        return None

    def sender_config(self) -> dict[str, Any]:
        """The plain data the poller is built from (with the URL, which may carry a token)."""
        return {**self.model_dump(exclude={"feed_url", "feed_url_env"}), "feed_url": self.url()}

    def categories(self) -> dict[str, set[str]]:
        """The categories Waze alert types are filed as."""
        return {"kinds": set(self.kinds.values())}
