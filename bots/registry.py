"""Senders by channel name, built from each channel's config section alone (so any worker can send)."""
from __future__ import annotations

import importlib
from typing import Any, Protocol

from ingest.message import Address

# Dotted names, so importing the registry does not import every channel's client library.
SENDERS = {"telegram": "bots.telegram.send:TelegramSender", "twitter": "bots.twitter.send:TwitterSender",
           "email": "bots.email.send:EmailSender", "web": "bots.webchat.send:WebChatSender"}

# Channels nobody is answered on: an Open311 client reads a request's status back; a feed is nobody.
SILENT = frozenset({"open311", "waze"})

_configs: dict[str, dict[str, Any]] = {}
_senders: dict[str, "Sender"] = {}


class Sender(Protocol):
    """What every channel's sender offers.

    Capabilities are class attributes, read with offers(): `buttons` (inline buttons), `locations` (a
    share-location button), `uploads` (a photo as bytes), `edits` (buttons can be removed from a sent message).

    The extras a sender reads, besides "photo", "buttons", "ask_location" and "language":
    - "toast": str — the row replies to a button press (its Address has a callback_id): the press is answered
      with this short notice (Telegram: answerCallbackQuery text, not an alert) instead of a silent answer.
    - "clear_buttons": str — the provider message id (in the address's chat) of an earlier reply of ours whose
      buttons must go: the question it asked is answered or outdated. A message with nothing left to clear
      (cleared already, deleted, too old to edit) is not an error.
    A row whose text is "" sends no message: only the toast and the clearing happen, and send returns "".
    A sender without `edits` ignores both keys (and still sends nothing for an empty text).
    """

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` to `address` (with what `extras` asks, as far as the channel can); return the message id."""


def configure(configs: dict[str, dict[str, Any]]) -> None:
    """Set the config section of each channel that may send in this process."""
    _configs.clear()
    _configs.update(configs)
    _senders.clear()


def offers(channel: str, feature: str) -> bool:
    """Whether the channel's sender shows `feature` (e.g. "buttons", "locations"), known without building it."""
    if channel not in SENDERS:
        return False
    module, _, name = SENDERS[channel].partition(":")
    return bool(getattr(getattr(importlib.import_module(module), name), feature, False))


def get(channel: str) -> Sender:
    """The sender for `channel`, created on first use and kept for the process."""
    if channel not in _senders:
        _senders[channel] = new(channel)
    return _senders[channel]


def new(channel: str) -> Sender:
    """A sender of its own for `channel` (one whose client belongs to the caller's event loop)."""
    if channel not in SENDERS:
        raise KeyError(f"no sender for channel {channel!r}")
    module, _, name = SENDERS[channel].partition(":")
    return getattr(importlib.import_module(module), name)(_configs.get(channel, {}))

