"""Waze for Cities: the partner feed as a channel nobody is answered on (the feed itself is read by ingest/waze)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bots.base import Channel, coerce
from bots.waze.config import WazeSettings
from ingest.waze import track

if TYPE_CHECKING:  # imported when used: reading the registry imports no client library (aiohttp)
    from ingest.intake import Intake
    from ingest.waze.poll import FeedOptions, FeedPoller

CHANNEL = Channel(name="waze", settings=WazeSettings, parse="ingest.waze.parse:parse_feed",
                  listener="bots.waze:listener", summary="the Waze for Cities alert feed")


def options(settings: WazeSettings | Mapping[str, Any]) -> FeedOptions:
    """The feed poller's options, from the `waze:` section (the feed URL from the environment when set there)."""
    from ingest.waze.poll import FeedOptions

    section = coerce(WazeSettings, settings)
    return FeedOptions(
        url=section.url() or "", poll_interval=section.poll_interval, timeout=section.timeout,
        max_feed_bytes=section.max_feed_bytes, max_retry_after=section.max_retry_after, kinds=dict(section.kinds),
        min_jam_level=section.min_jam_level,
        rules=track.Rules(section.min_corroboration, section.misses_before_gone))


def listener(settings: WazeSettings, intake: Intake) -> FeedPoller:
    """The feed's poller, as `crophub listen` runs it."""
    from ingest.waze.poll import FeedPoller

    return FeedPoller(options(settings), intake)
