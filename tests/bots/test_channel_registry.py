"""The Channel contract (bots/base.py): every registered channel declares what the hub needs, and a new channel is
its own declaration: settings, `crophub listen`, and the outbox pick it up with nothing else changed."""
from __future__ import annotations

import asyncio
import inspect

import pytest
from pydantic import ValidationError

import bots
from bots import registry
from bots.base import Capability, ChannelSettings, load
from hub import cli, settings as hub_settings
from ingest.message import Address
from tests.fakes import pager

CAPABILITIES = set(Capability.__args__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("channel", bots.CHANNELS, ids=lambda c: c.name)
def test_every_channel_honours_the_contract(channel: bots.Channel) -> None:
    assert bots.channel(channel.name) is channel
    assert issubclass(channel.settings, ChannelSettings)
    defaults = channel.settings()
    assert defaults.status() is None or defaults.status().startswith(channel.key)  # the line names its section
    assert callable(load(channel.parse))
    if channel.sender:
        assert inspect.iscoroutinefunction(load(channel.sender).send)
    for hook in (channel.listener, channel.webhook):
        if hook:
            assert callable(load(hook))
    assert channel.capabilities <= CAPABILITIES


def test_names_and_sections_are_declared_once() -> None:
    names = [c.name for c in bots.CHANNELS]
    keys = [c.key for c in bots.CHANNELS]
    assert len(set(names)) == len(names) and len(set(keys)) == len(keys)
    assert set(keys).isdisjoint(hub_settings.CoreSettings.model_fields)  # no channel hides a hub section
    assert registry.SILENT == {"open311", "waze"}  # nobody is answered on them: they declare no sender
    assert registry.offers("telegram", "buttons") and not registry.offers("email", "buttons")
    assert not registry.offers("nosuch", "buttons")
    with pytest.raises(KeyError, match="no channel 'nosuch'"):
        bots.channel("nosuch")


@pytest.fixture
def with_pager(monkeypatch: pytest.MonkeyPatch) -> type:
    monkeypatch.setattr(bots, "CHANNELS", (*bots.CHANNELS, pager.CHANNEL))
    monkeypatch.setitem(bots.BY_NAME, "pager", pager.CHANNEL)
    monkeypatch.delenv("CROPHUB_TELEGRAM_TOKEN", raising=False)
    return hub_settings._with_channels()


def test_a_new_channel_gets_its_config_section(with_pager: type) -> None:
    settings = with_pager.model_validate({"pager": {"gateway": "http://127.0.0.1:9"}})
    assert settings.channel("pager").gateway == "http://127.0.0.1:9"
    assert with_pager.model_validate({}).channel("pager").status() == "pager: channel off: set pager.gateway to turn it on"
    with pytest.raises(ValidationError, match="pager.gatway"):
        with_pager.model_validate({"pager": {"gatway": "http://127.0.0.1:9"}})


def test_a_new_channel_is_listened_to_and_sends(with_pager: type, caplog: pytest.LogCaptureFixture) -> None:
    settings = with_pager.model_validate({"pager": {"gateway": "http://127.0.0.1:9"}})
    assert "pager" in cli.channels_on(settings)
    [listener] = [x for x in cli._listeners(settings, intake=None) if isinstance(x, pager.PagerListener)]
    assert listener.settings.gateway == "http://127.0.0.1:9"
    registry.configure({"pager": settings.channel("pager").sender_config()})
    try:
        sent = asyncio.run(registry.new("pager").send(Address(channel="pager", chat_id="0812"), "Laporan diterima."))
    finally:
        registry.configure({})
    assert sent.startswith("page-") and pager.SENT[-1][1] == "Laporan diterima."
    assert "pager: channel off" not in caplog.text


def test_listen_refuses_a_channel_it_does_not_know() -> None:
    with pytest.raises(cli.Fatal, match="no channel 'pagr'"):
        cli._listeners(hub_settings.parse({}), intake=None, channels=["pagr"])


def test_the_open311_section_written_in_its_old_place_still_works(caplog: pytest.LogCaptureFixture) -> None:
    settings = hub_settings.parse({"web": {"open311": {"max_requests": 50}}})
    assert settings.channel("open311").max_requests == 50
    assert "web.open311 is now the section open311" in caplog.text
    with pytest.raises(hub_settings.ConfigError, match="open311 is set twice"):
        hub_settings.parse({"web": {"open311": {}}, "open311": {}})
