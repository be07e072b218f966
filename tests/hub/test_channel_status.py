"""Which channels `crophub listen` runs: each is on only with what it needs, and built from its settings."""
from __future__ import annotations

import pytest

from bots.email.inbox import InboxReader
from bots.twitter.poll import MentionPoller
from ingest.waze.poll import FeedPoller
from hub.cli import _listeners
from hub.settings import parse

TWITTER = {"account_id": "1481234567", "account_username": "CropHubJKT"}
EMAIL = {"address": "pengaduan@jakarta.go.id", "imap": {"host": "127.0.0.1"}, "smtp": {"host": "127.0.0.1"}}


@pytest.fixture(autouse=True)
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CROPHUB_TELEGRAM_TOKEN", "CROPHUB_TWITTER_BEARER_TOKEN", "CROPHUB_EMAIL_PASSWORD",
                 "CROPHUB_WAZE_FEED_URL"):
        monkeypatch.delenv(name, raising=False)


def test_every_channel_is_off_by_default_and_says_how_to_turn_it_on() -> None:
    settings = parse({})
    assert "CROPHUB_TELEGRAM_TOKEN" in settings.channel("telegram").status()
    assert "twitter.account_id" in settings.channel("twitter").status()
    assert "email.address and email.imap.host" in settings.channel("email").status()
    assert "export CROPHUB_WAZE_FEED_URL=" in settings.channel("waze").status()
    assert _listeners(settings, intake=None) == []


def test_configured_channels_need_their_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse({"twitter": TWITTER, "email": EMAIL})
    assert "export CROPHUB_TWITTER_BEARER_TOKEN=" in settings.channel("twitter").status()
    assert "export CROPHUB_EMAIL_PASSWORD=" in settings.channel("email").status()
    monkeypatch.setenv("CROPHUB_TWITTER_BEARER_TOKEN", "AAAA")
    monkeypatch.setenv("CROPHUB_EMAIL_PASSWORD", "rahasia")
    assert settings.channel("twitter").status() is None and settings.channel("email").status() is None
    listeners = _listeners(settings, intake=None)
    assert [type(x) for x in listeners] == [MentionPoller, InboxReader]
    reader = listeners[1]
    assert reader.account == "pengaduan@jakarta.go.id" and reader.imap.host == "127.0.0.1"


def test_the_waze_feed_is_polled_from_the_url_in_the_environment_or_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse({"waze": {"min_corroboration": 15, "kinds": {"hazard_weather_flood": "flood"}}})
    monkeypatch.setenv("CROPHUB_WAZE_FEED_URL", "https://wazefeed.example/feed?token=s3cret")
    assert settings.channel("waze").status() is None
    [poller] = _listeners(settings, intake=None)
    assert isinstance(poller, FeedPoller) and poller.options.url.endswith("token=s3cret")
    assert poller.options.rules.min_corroboration == 15 and poller.options.kinds == {"HAZARD_WEATHER_FLOOD": "flood"}
    monkeypatch.delenv("CROPHUB_WAZE_FEED_URL")
    [poller] = _listeners(parse({"waze": {"feed_url": "http://127.0.0.1:9/feed"}}), intake=None)
    assert poller.options.url == "http://127.0.0.1:9/feed" and poller.options.rules.misses_before_gone == 3


def test_a_feed_url_that_is_not_http_is_refused_without_repeating_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROPHUB_WAZE_FEED_URL", "wazefeed.example/feed?token=s3cret")
    off = parse({}).channel("waze").status()
    assert "CROPHUB_WAZE_FEED_URL is not an http(s):// URL" in off and "s3cret" not in off
