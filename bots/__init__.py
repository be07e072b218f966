"""Channels: each turns its payloads into `ingest.Message` and sends replies to an `Address`.

`CHANNELS` is the one registry the hub, settings, CLI, web and router read: a channel is one folder here whose
`__init__` declares its `CHANNEL` (bots/base.py), plus one line below (bots/README.md says how to add one)."""
from __future__ import annotations

import importlib

from bots.base import Channel

# The packages that declare a channel, in the order the hub reports them.
PACKAGES = ("bots.telegram", "bots.twitter", "bots.email", "bots.webchat", "bots.open311", "bots.waze",
            "bots.messenger", "bots.whatsapp", "bots.sms")

CHANNELS: tuple[Channel, ...] = tuple(importlib.import_module(package).CHANNEL for package in PACKAGES)
BY_NAME: dict[str, Channel] = {channel.name: channel for channel in CHANNELS}


def channel(name: str) -> Channel:
    """The channel stored as `name`; KeyError names the channels there are."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no channel {name!r} (there are: {', '.join(BY_NAME)})") from None
