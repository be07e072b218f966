"""Which channels `crophub listen` runs: each is on only with what it needs, and built from its settings."""
from __future__ import annotations

import pytest

from bots.email.inbox import InboxReader
from bots.twitter.poll import MentionPoller
from hub import runtime
from hub.cli import _listeners
from hub.settings import parse

TWITTER = {"account_id": "1481234567", "account_username": "CropHubJKT"}
EMAIL = {"address": "pengaduan@jakarta.go.id", "imap": {"host": "127.0.0.1"}, "smtp": {"host": "127.0.0.1"}}


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CROPHUB_TELEGRAM_TOKEN", "CROPHUB_TWITTER_BEARER_TOKEN", "CROPHUB_EMAIL_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_every_channel_is_off_by_default_and_says_how_to_turn_it_on() -> None:
    settings = parse({})
    assert "CROPHUB_TELEGRAM_TOKEN" in runtime.telegram_status(settings)
    assert "twitter.account_id" in runtime.twitter_status(settings)
    assert "email.address and email.imap.host" in runtime.email_status(settings)
    assert _listeners(settings, intake=None) == []


def test_configured_channels_need_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse({"twitter": TWITTER, "email": EMAIL})
    assert "export CROPHUB_TWITTER_BEARER_TOKEN=" in runtime.twitter_status(settings)
    assert "export CROPHUB_EMAIL_PASSWORD=" in runtime.email_status(settings)
    monkeypatch.setenv("CROPHUB_TWITTER_BEARER_TOKEN", "AAAA")
    monkeypatch.setenv("CROPHUB_EMAIL_PASSWORD", "rahasia")
    assert runtime.twitter_status(settings) is None and runtime.email_status(settings) is None
    listeners = _listeners(settings, intake=None)
    assert [type(x) for x in listeners] == [MentionPoller, InboxReader]
    reader = listeners[1]
    assert reader.account == "pengaduan@jakarta.go.id" and reader.imap["host"] == "127.0.0.1"
