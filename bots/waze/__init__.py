"""Waze for Cities: the partner feed as a channel nobody is answered on (the feed itself is read by ingest/waze)."""
from __future__ import annotations

from typing import Any

from bots.base import Channel, ChannelSettings
from bots.waze.config import WazeSettings

CHANNEL = Channel(name="waze", settings=WazeSettings, parse="ingest.waze.parse:parse_feed",
                  listener="bots.waze:listener", summary="the Waze for Cities alert feed")


def listener(settings: ChannelSettings, intake: Any) -> Any:
    """The feed's poller."""
    from ingest.waze.poll import FeedPoller

    return FeedPoller(settings.sender_config(), intake)
