"""A photo goes out only where it can be shown: a channel's file id to that channel and bot alone (Telegram file ids
are valid only for the bot that received them), a link anywhere, a photo kept here as bytes to a channel that
uploads. Before references named their channel, anything unrecognised went out as a Telegram file id."""
from __future__ import annotations

import asyncio

import pytest

from ingest.message import Address
from router import replies
from store.media import MediaRef
from store.models import Outbox

TELEGRAM_FILE = str(MediaRef("telegram", "file", "AgACAgUAAxk-banjir", "777"))


def shown(channel: str, photo: str, bot: str | None = None) -> str | bytes | None:
    row = Outbox(id=1, channel=channel)
    return asyncio.run(replies._shown_photo(row, Address(channel=channel, chat_id="42", bot=bot), photo))


@pytest.mark.parametrize("channel, bot, expected", [
    ("telegram", "777", "AgACAgUAAxk-banjir"),  # the bot that received it
    ("telegram", "888", None),  # another bot of ours: the id would mean nothing to it
    ("twitter", None, None),
    ("web", None, None),
])
def test_a_channel_file_goes_only_to_its_own_bot(channel: str, bot: str | None, expected: str | None) -> None:
    assert shown(channel, TELEGRAM_FILE, bot) == expected


def test_links_go_anywhere_and_what_cannot_be_fetched_nowhere() -> None:
    assert shown("telegram", "https://pbs.twimg.com/media/F1.jpg", "777") == "https://pbs.twimg.com/media/F1.jpg"
    assert shown("telegram", "email:sha256:0f0f", "777") is None  # a mailed photo we did not keep
    assert shown("telegram", "AgACAgUAAxk-bare", "777") is None  # no channel named: not guessed to be Telegram's
    kept = "media:sha256:" + "ab" * 32
    assert shown("web", kept) == kept  # the page fetches it from us; only uploading channels get the bytes
