"""Senders by channel name, built from each channel's config section alone (so any worker can send)."""
from __future__ import annotations

from typing import Any

from bots import BY_NAME, aio
from bots.base import Sender, load

# Channels nobody is answered on (an Open311 client reads a request's status back; a feed is nobody).
SILENT = frozenset(name for name, channel in BY_NAME.items() if channel.sender is None)

_configs: dict[str, dict[str, Any]] = {}
_senders: dict[str, Sender] = {}

__all__ = ["SILENT", "Sender", "close", "configure", "get", "new", "offers"]


def configure(configs: dict[str, dict[str, Any]]) -> None:
    """Set the sender config (ChannelSettings.sender_config()) of each channel that may send in this process."""
    _configs.clear()
    _configs.update(configs)
    if _senders and aio.started():  # the senders built from the old config close their connections
        try:
            aio.run(close(), timeout=10)
        except Exception:  # a sender that cannot close now is left to the garbage collector
            pass
    _senders.clear()


def offers(channel: str, feature: str) -> bool:
    """Whether the channel can do `feature` (a bots.base.Capability, e.g. "buttons", "locations")."""
    found = BY_NAME.get(channel)
    return found is not None and feature in found.capabilities


def get(channel: str) -> Sender:
    """The sender for `channel`, created on first use and kept for the process."""
    if channel not in _senders:
        _senders[channel] = new(channel)
    return _senders[channel]


async def close() -> None:
    """Close the kept senders' HTTP sessions (a worker stopping), on the loop they were used on."""
    senders = list(_senders.values())
    _senders.clear()
    for sender in senders:
        closing = getattr(sender, "close", None)
        try:
            if closing is not None:
                await closing()
        except Exception:  # one sender's failure must not keep the others open
            continue


def new(channel: str) -> Sender:
    """A sender of its own for `channel` (one whose client belongs to the caller's event loop)."""
    found = BY_NAME.get(channel)
    if found is None or found.sender is None:
        raise KeyError(f"no sender for channel {channel!r}")
    sender: Sender = load(found.sender)(_configs.get(channel, {}))
    return sender
