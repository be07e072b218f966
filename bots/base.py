"""The Channel contract: what every channel declares once, and what the hub, settings, CLI, web and router
read from `bots.CHANNELS` instead of knowing channels by name."""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from ingest.message import Address

# What a channel can do, read by the router before it builds a reply and by the hub before it routes an officer:
# buttons (inline buttons), locations (a share-location button), uploads (a photo sent as bytes), edits (buttons
# can be removed from a sent message), downloads (its sender fetches the channel's own files by id), threading
# (a reply continues the citizen's thread), officers (officers can work a ticket from it: cards, replies).
Capability = Literal["buttons", "locations", "uploads", "edits", "downloads", "threading", "officers"]


class ChannelSettings(BaseModel):
    """A channel's config section; its defaults are defined here, once, beside their meaning."""

    # A typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")

    def status(self) -> str | None:
        """None when the channel can run; otherwise the one line that says it is off and how to turn it on."""
        return None

    def warnings(self) -> list[str]:
        """What works only in part though the channel is on (e.g. mentions read, replies not yet postable)."""
        return []

    def listens(self) -> bool:
        """Whether `crophub listen` runs the channel's listener (rather than a webhook bringing its payloads)."""
        return True

    def serves(self) -> bool:
        """Whether `crophub web` mounts the channel's webhook."""
        return False

    def sender_config(self) -> dict[str, Any]:
        """The plain data its sender (and listener) is built from in any process: names of secrets, not secrets."""
        return self.model_dump(mode="json")

    def categories(self) -> dict[str, set[str]]:
        """key → the categories it maps to, which the taxonomy must have (checked at start)."""
        return {}


class Sender(Protocol):
    """What every channel's sender offers.

    The extras a sender reads, besides "photo", "buttons", "ask_location" and "language":
    - "toast": str — the row replies to a button press (its Address has a callback_id): the press is answered
      with this short notice (Telegram: answerCallbackQuery text, not an alert) instead of a silent answer.
    - "clear_buttons": str — the provider message id (in the address's chat) of an earlier reply of ours whose
      buttons must go: the question it asked is answered or outdated. A message with nothing left to clear
      (cleared already, deleted, too old to edit) is not an error.
    - "notice": str — a ticket number: the reply is due after the channel's answer window, and the sender sends its
      approved template naming the ticket instead of the text (a sender whose `notifies_after_window` is true).
    A row whose text is "" sends no message: only the toast and the clearing happen, and send returns "".
    A channel without `edits` ignores both keys (and still sends nothing for an empty text).
    """

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` to `address` (with what `extras` asks, as far as the channel can); return the message id."""


class Listener(Protocol):
    """A channel's receiving loop for `crophub listen`: store each payload, then confirm it upstream."""

    async def run(self, stop: Any) -> None:
        """Receive until `stop` (an asyncio.Event) is set; errors are retried with the one backoff loop."""


@dataclass(frozen=True)
class Channel:
    """One channel. The callables are named "module:attribute" so that reading the registry imports no
    channel's client library; `load` imports one when it is used."""

    name: str  # as stored: Address.channel, the outbox's channel, the idempotency key's prefix
    settings: type[ChannelSettings]
    parse: str  # raw payload → Message | Skipped, pure (no I/O); its arguments are the channel's own
    section: str = ""  # its config.yaml key; "" : the name
    sender: str | None = None  # a class built from settings.sender_config() alone; None: nobody is answered here
    listener: str | None = None  # (settings, intake) → Listener, for `crophub listen`
    webhook: str | None = None  # (app, settings, intake) → None: routes and start-up hooks, for `crophub web`
    served_by_web: bool = False  # its routes are part of the web app itself (the web chat, the Open311 API)
    capabilities: frozenset[Capability] = frozenset()
    # Hours after the citizen's last message within which the channel lets us answer freely (Meta's 24-hour
    # customer-service window); a reply due later is held until they write again. None: no such rule.
    reply_window_hours: float | None = None
    summary: str = ""  # what it is, in a few words: `crophub run` and `listen` log it for each channel that is on

    @property
    def key(self) -> str:
        """The config.yaml section the channel's settings are read from."""
        return self.section or self.name

    def offers(self, capability: Capability) -> bool:
        """Whether the channel can do `capability`."""
        return capability in self.capabilities


def load(dotted: str) -> Any:
    """The object a "module:attribute" name refers to."""
    module, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module), attribute)


S = TypeVar("S", bound=ChannelSettings)


def coerce(settings: type[S], value: S | Mapping[str, Any]) -> S:
    """A channel's settings from its typed section, or validated from the plain data a worker was given."""
    if isinstance(value, settings):
        return value
    try:
        return settings.model_validate(dict(value))
    except ValidationError as exc:
        # Inputs are not echoed: a refused key may well be a secret someone put in the config.
        problems = "; ".join(_problem(error["loc"], error["type"], error["msg"]) for error in exc.errors())
        raise ValueError(f"{settings.__name__}: {problems}") from None


def _problem(loc: tuple[int | str, ...], kind: str, msg: str) -> str:
    key = ".".join(str(part) for part in loc) or "(top level)"
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check its spelling; a secret is never a key: a *_env key names its variable)"
    return f"{key}: {msg[:1].lower()}{msg[1:]}"
