"""Defaults are written once, in each channel's settings model: its senders and listeners are built from the section
(typed, or the plain data of sender_config() that a worker is given), read every value from it, and refuse a key
the model does not have. A value that differs from the default (a falsy one where the model allows it, so that
`value or <literal>` shows too) must arrive where it is used."""
from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import pytest
import redis
from rq import Queue

import bots
from bots.base import coerce, load
from bots.email.config import EmailSettings
from bots.email.inbox import InboxReader
from bots.email.send import EmailSender
from bots.telegram.config import TelegramSettings
from bots.telegram.poll import Poller
from bots.telegram.send import TelegramSender
from bots.twitter.config import TwitterSettings
from bots.twitter.poll import MentionPoller
from bots.twitter.send import TwitterSender
from bots.waze.config import WazeSettings
from ingest.intake import INTAKE_QUEUE, Intake
from ingest.message import Address
from store import db
from tests.fakes.telegram_api import FakeBotAPI

SECRET = "123456:s3cret-never-echoed"
CITIZEN = Address(channel="email", chat_id="siti.rahma@example.co.id", bot="pengaduan@jakarta.go.id")


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROPHUB_TEST_SECRET", SECRET)


def test_the_telegram_sender_uses_its_section() -> None:
    section = TelegramSettings(token_env="CROPHUB_TEST_SECRET", api_base_url="http://127.0.0.1:9/bot",
                               file_base_url="http://127.0.0.1:9/file/bot", connection_pool=3)
    sender = TelegramSender(section.sender_config())
    assert sender.bot.token == SECRET
    assert sender.bot.base_url == f"http://127.0.0.1:9/bot{SECRET}"
    assert sender.bot.base_file_url == f"http://127.0.0.1:9/file/bot{SECRET}"
    assert sender.bot._request[1].connection_pool_size == 3
    assert sender.slots._value == 3


async def test_the_telegram_poller_uses_its_section(fake_api: FakeBotAPI, telegram_config: dict[str, Any],
                                                    sqlite_url: str, redis_conn: redis.Redis) -> None:
    siti = {"id": 5, "is_bot": False, "first_name": "Siti"}
    for n in range(3):
        fake_api.push({"update_id": 900 + n, "message": {"message_id": n + 1, "date": 1764036000, "text": "banjir",
                                                         "from": siti, "chat": {"id": 5, "type": "private"}}})
    section = TelegramSettings.model_validate({**telegram_config, "poll_limit": 2, "poll_batch_wait": 0})
    poller = Poller(section.sender_config(), Intake(db.configure(sqlite_url), Queue(INTAKE_QUEUE, connection=redis_conn)))
    assert (poller.timeout, poller.limit, poller.batch_wait) == (0, 2, 0)  # poll_timeout 0 is the fixture's
    await poller.start()
    try:
        assert await poller.poll_once() == 2  # poll_limit reached getUpdates
    finally:
        await poller.bot.shutdown()


def test_the_twitter_sender_and_poller_use_their_section() -> None:
    section = TwitterSettings(account_id="1481234567", account_username="@CropHubJKT", mode="stream",
                              api_base_url="http://127.0.0.1:9/gateway", bearer_token_env="CROPHUB_TEST_SECRET",
                              poll_interval=7.0, max_pages=2, max_rate_limit_wait=42.0, timeout=3.0)
    sender = TwitterSender(section.sender_config())
    adapter = sender._client().session.get_adapter("https://api.twitter.com/2/tweets")
    assert (adapter.netloc, adapter.prefix, adapter.timeout) == ("127.0.0.1:9", "/gateway", 3.0)
    assert sender._client().bearer_token == SECRET and sender.max_wait == 42.0
    for poller in (MentionPoller(section.sender_config(), intake=None),
                   load(bots.channel("twitter").listener or "")(section, None)):
        assert (poller.account_id, poller.username, poller.mode) == ("1481234567", "CropHubJKT", "stream")
        assert (poller.poll_interval, poller.max_pages, poller.max_wait) == (7.0, 2, 42.0)


async def test_the_email_sender_uses_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    import aiosmtplib

    sent: dict[str, Any] = {}

    async def capture(message: Any, **kwargs: Any) -> None:
        sent.update(kwargs, sender_name=str(message["From"]))

    monkeypatch.setattr(aiosmtplib, "send", capture)
    section = EmailSettings(address="pengaduan@jakarta.go.id", display_name="Balai Kota",
                            imap={"username": "pengaduan"},  # the SMTP login, unless smtp.username says otherwise
                            smtp={"host": "127.0.0.1", "port": 2525, "security": "none", "timeout": 4.0,
                                  "password_env": "CROPHUB_TEST_SECRET"})
    for built in (EmailSender(section.sender_config()), EmailSender(section)):
        await built.send(CITIZEN, "Laporan diterima.")
        assert (sent["hostname"], sent["port"], sent["timeout"], sent["use_tls"], sent["start_tls"]) == (
            "127.0.0.1", 2525, 4.0, False, False)
        assert (sent["username"], sent["password"], sent["tls_context"]) == ("pengaduan", SECRET, None)
        assert sent["sender_name"] == "Balai Kota <pengaduan@jakarta.go.id>"


def test_the_inbox_reader_uses_its_section() -> None:
    section = EmailSettings(address="Pengaduan@Jakarta.go.id", max_attachment_bytes=1000, max_message_bytes=2000,
                            imap={"host": "127.0.0.1", "mailbox": "Laporan", "idle": False, "poll_interval": 5.0,
                                  "idle_timeout": 600.0, "timeout": 4.0, "batch_size": 3, "batch_bytes": 2_000_000})
    for reader in (InboxReader(section.sender_config(), intake=None),
                   load(bots.channel("email").listener or "")(section, None)):
        assert (reader.account, reader.mailbox, reader.imap.idle) == ("pengaduan@jakarta.go.id", "Laporan", False)
        assert (reader.poll_interval, reader.idle_timeout, reader.timeout) == (5.0, 600.0, 4.0)
        assert (reader.batch_size, reader.batch_bytes) == (3, 2_000_000)
        assert (reader.max_attachment_bytes, reader.max_message_bytes) == (1000, 2000)


def test_the_waze_poller_uses_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROPHUB_WAZE_FEED_URL", raising=False)
    section = WazeSettings(feed_url="http://127.0.0.1:9/feed?token=x", poll_interval=30.0, timeout=4.0,
                           max_feed_bytes=5000, max_retry_after=0, kinds={"hazard_weather_flood": "flood"},
                           min_jam_level=0, min_corroboration=0, misses_before_gone=7)
    poller = load(bots.channel("waze").listener or "")(section, None)
    options = poller.options
    assert (options.url, options.poll_interval, options.timeout) == ("http://127.0.0.1:9/feed?token=x", 30.0, 4.0)
    assert (options.max_feed_bytes, options.max_retry_after, options.min_jam_level) == (5000, 0, 0)
    assert options.kinds == {"HAZARD_WEATHER_FLOOD": "flood"}
    assert (options.rules.min_corroboration, options.rules.misses_before_gone) == (0, 7)


@pytest.mark.parametrize("build, section, key", [
    (TelegramSender, TelegramSettings(token_env="CROPHUB_TEST_SECRET"), "token"),
    (TwitterSender, TwitterSettings(), "bearer_token"),
    (lambda config: MentionPoller(config, None), TwitterSettings(), "consumer_key"),
    (EmailSender, EmailSettings(), "smtp.password"),
    (lambda config: InboxReader(config, None), EmailSettings(), "imap.password"),
], ids=["telegram sender", "twitter sender", "twitter poller", "email sender", "email reader"])
def test_a_key_the_section_does_not_have_is_refused_by_name(build: Any, section: Any, key: str) -> None:
    config = section.sender_config()
    *parents, name = key.split(".")
    target = config
    for parent in parents:
        target = target[parent]
    target[name] = SECRET  # a secret written into the config, where it must never be
    with pytest.raises(ValueError, match=rf"{type(section).__name__}: {re.escape(key)}: unknown key") as refused:
        build(config)
    assert SECRET not in str(refused.value)


def test_a_bad_value_is_refused_with_what_was_expected() -> None:
    with pytest.raises(ValueError, match="TelegramSettings: connection_pool: input should be greater than or equal to 1"):
        coerce(TelegramSettings, {"connection_pool": 0})
    section = TelegramSettings()
    assert coerce(TelegramSettings, section) is section  # a typed section is taken as it is


def test_no_sender_or_listener_restates_a_default() -> None:
    # `config.get(key, <literal>)` (or `or <literal>`) on plain data is how a second copy of a default creeps back.
    names = {"ingest.waze.poll", "bots.twitter.client", "bots.email.config", "bots.email.imap"}
    names |= {hook.partition(":")[0] for channel in bots.CHANNELS
              for hook in (channel.sender, channel.listener, channel.webhook) if hook}
    pattern = re.compile(r"\b(config|section|imap|smtp|settings)(\.get\(|\[)")
    found = {name: pattern.findall(inspect.getsource(importlib.import_module(name))) for name in sorted(names)}
    assert {name: hits for name, hits in found.items() if hits} == {}
