"""A channel that exists only in tests, declared the way bots/README.md says a new channel is: its settings,
a pure parse, a sender built from its config alone, and a listener. The registry tests add it to bots.CHANNELS
and check the hub picks it up with nothing else changed."""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from pydantic import Field

from bots.base import Channel, ChannelSettings, coerce
from ingest.intake import Batch, Intake, Skipped
from ingest.message import Address, Message, Sender

SENT: list[tuple[Address, str]] = []


class PagerSettings(ChannelSettings):
    gateway: str | None = Field(None, pattern=r"^https?://")
    poll_interval: float = Field(1.0, gt=0)

    def status(self) -> str | None:
        """Off until the gateway is set."""
        return None if self.gateway else "pager: channel off: set pager.gateway to turn it on"


CHANNEL = Channel(name="pager", settings=PagerSettings, parse="tests.fakes.pager:parse",
                  sender="tests.fakes.pager:PagerSender", listener="tests.fakes.pager:listener",
                  capabilities=frozenset({"officers"}), summary="a pager gateway (tests only)")


def parse(line: str, now: datetime | None = None) -> Message | Skipped:
    """'<number>: <text>' → a Message; anything else is rejected with the reason."""
    number, sep, text = line.partition(":")
    if not sep or not number.strip().isdigit():
        return Skipped("pager", f"pager:{hash(line)}", "rejected", "not '<number>: <text>'", {"line": line})
    text = text.strip()
    return Message(channel="pager", key=f"pager:{number.strip()}:{text}", sender=Sender(id=number.strip()),
                   address=Address(channel="pager", chat_id=number.strip()), text=text,
                   command=text.split(maxsplit=1)[0].lower() if text.startswith("/") else None,
                   received_at=now or datetime.now(timezone.utc))


class PagerSender:
    """Records what it sends."""

    def __init__(self, config: Mapping[str, Any] | PagerSettings) -> None:
        self.settings = coerce(PagerSettings, config)

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Record the page; its id."""
        SENT.append((address, text))
        return f"page-{len(SENT)}"


class PagerListener:
    """Stores the lines it is given, then stops."""

    def __init__(self, settings: PagerSettings, intake: Intake, lines: list[str] | None = None) -> None:
        self.settings, self.intake, self.lines = settings, intake, list(lines or [])

    async def run(self, stop: asyncio.Event) -> None:
        """Store every waiting line in one batch."""
        batch = Batch()
        for line in self.lines:
            batch.add(parse(line))
        await asyncio.to_thread(self.intake.accept, batch)


def listener(settings: PagerSettings, intake: Intake) -> PagerListener:
    """The listener `crophub listen` runs."""
    return PagerListener(settings, intake)
