"""Settings: defaults, environment secrets and overrides, and errors that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub import cli
from hub.settings import ConfigError, load, parse

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_config_is_valid_and_matches_the_defaults() -> None:
    shipped = load(REPO / "config.yaml")
    assert shipped.model_dump() == parse({}).model_dump()


def test_the_router_unconfigured_runs_with_the_settings_defaults() -> None:
    from dataclasses import asdict

    from hub.runtime import router_config
    from router.context import RouterConfig

    # A process never configured (a test, a one-off job) routes exactly as the default config.yaml does.
    assert asdict(router_config(parse({}))) == asdict(RouterConfig())


def test_secrets_and_urls_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse({"telegram": {"token_env": "MY_BOT_TOKEN"}})
    assert settings.telegram.token is None
    monkeypatch.setenv("MY_BOT_TOKEN", "1:abc")
    monkeypatch.setenv("CROPHUB_DATABASE_URL", "postgresql://db/crophub")
    monkeypatch.setenv("CROPHUB_REDIS_URL", "redis://cache:6379/0")
    assert settings.telegram.token == "1:abc"
    assert settings.database_url == "postgresql://db/crophub" and settings.redis_url == "redis://cache:6379/0"


@pytest.mark.parametrize(
    "data, expected",
    [
        ({"telegram": {"poll_timeout": "soon"}}, "telegram.poll_timeout: input should be a valid integer"),
        ({"telegram": {"poll_timeout": 90}}, "telegram.poll_timeout: input should be less than or equal to 50"),
        ({"workers": {"procesess": 2}}, "workers.procesess: unknown key"),
        ({"telegram": {"mode": "push"}}, "telegram.mode: input should be 'polling' or 'webhook', got 'push'"),
        ({"telegram": {"api_base_url": "api.telegram.org"}}, "telegram.api_base_url: string should match pattern"),
        ({"tickets": {"prefix": "jkt"}}, "tickets.prefix: string should match pattern"),
        ({"redis": ["a"]}, "redis: input should be a valid dictionary"),
        ({"outbox": {"retry_intervals": []}}, "outbox.retry_intervals: list should have at least 1 item"),
        ({"outbox": {"retry_intervals": [5, -1]}}, "outbox.retry_intervals.1: input should be greater than 0"),
        ({"nlp": {"categories_file": "/nonexistent/categories.yaml"}}, "nlp.categories_file: value error, cannot use"),
        ({"nlp": {"nominatim_url": "nominatim.local"}}, "nlp.nominatim_url: value error, expected http(s)://host"),
        ({"nlp": {"nominatim_timeout": 0}}, "nlp.nominatim_timeout: input should be greater than 0"),
        ({"tickets": {"duplicates": {"flood": {"radius_m": 100, "window_hours": 1}}}}, "needs a `default` rule"),
        ({"tickets": {"duplicates": {"default": {"radius_m": 0, "window_hours": 1}}}}, "radius_m: input should be greater"),
        ({"tickets": {"duplicates": {"default": {"radius_m": 9, "window_hours": 1}, "flod": {"radius_m": 9,
                                                                                          "window_hours": 1}}}},
         "tickets.duplicates names categories the taxonomy does not have: ['flod']"),
        ({"routing": {"categories": {"flood": "pu"}}}, "agencies not defined under routing.agencies: categories.flood: 'pu'"),
        ({"routing": {"categories": {"floods": "dsda"}}}, "names categories the taxonomy does not have: ['floods']"),
        ({"routing": {"default_agency": "x"}}, "default_agency: 'x'"),
        ({"routing": {"units": {"31.75.3": {"name": "Jatinegara"}}}}, "'31.75.3' is not a dki jakarta area code"),
        ({"routing": {"units": {"31.75.99": {"name": "Nowhere"}}}}, "'31.75.99' names no area in nlp/data/jakarta"),
        ({"twitter": {"account_id": "123", "mode": "stream"}}, "account_username is required when twitter.mode is stream"),
        ({"email": {"address": "pengaduan"}}, "email.address"),
        ({"waze": {"feed_url": "waze.com/feed?token=s3cret"}}, "waze.feed_url: string should match pattern"),
        ({"waze": {"kinds": {"HAZARD_WEATHER_FLOOD": "banjir"}}},
         "waze.kinds maps to categories the taxonomy does not have: ['banjir']"),
        ({"waze": {"min_corroboration": 26}}, "waze.min_corroboration: input should be less than or equal to 25"),
        ({"waze": {"misses_before_gone": 0}}, "waze.misses_before_gone: input should be greater than or equal to 1"),
        ({"waze": {"min_jam_level": 6}}, "waze.min_jam_level"),
        ({"routing": {"officers": [{"name": "A", "telegram_id": "@a"}]}}, "routing.officers.0.telegram_id"),
        ({"routing": {"officers": [{"name": "A", "telegram_id": 1, "role": "boss"}]}}, "routing.officers.0.role"),
        ({"routing": {"officers": [{"name": "A", "telegram_id": 1, "agencies": ["pu"]}]}},
         "officers[0].agencies: 'pu'"),
        ({"routing": {"officers": [{"name": "A", "telegram_id": 1}, {"name": "B", "telegram_id": "1"}]}},
         "identity appears twice in routing.officers: telegram:1"),
        ({"routing": {"officers": [{"name": "A", "identities": {"email": "a@jakarta.go.id"}}]}},
         "routing.officers.0.identities: value error, 'email' is not a channel officers can work from (these are: telegram)"),
        ({"routing": {"officers": [{"name": "A", "areas": ["31.75"]}]}}, "needs telegram_id or identities"),
        ({"routing": {"officers": [{"name": "A", "telegram_id": 1, "identities": {"telegram": "2"}}]}},
         "telegram_id and identities.telegram differ"),
    ],
)
def test_a_bad_value_names_the_key_and_what_was_expected(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(data)
    assert expected in str(err.value)


def test_the_cli_fails_at_once_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("web:\n  port: eighty\n")
    assert cli.main(["--config", str(bad), "migrate"]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "web.port: input should be a valid integer" in err


def test_a_missing_or_unreadable_config_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--config", str(tmp_path / "nope.yaml"), "migrate"]) == 2
    assert "config file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text("hub: [unclosed\n")
    assert cli.main(["--config", str(broken), "migrate"]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "worker", "web", "migrate", "listen"):
        assert command in out


def test_the_router_defaults_are_the_settings_defaults() -> None:
    from router.context import RouterConfig

    settings, unconfigured = parse({}), RouterConfig()
    assert unconfigured.routing == settings.routing.model_dump(mode="json", exclude={"officers"})
    assert unconfigured.duplicates == {c: r.model_dump() for c, r in settings.tickets.duplicates.items()}
    assert unconfigured.sla == {c: r.model_dump() for c, r in settings.tickets.sla.items()}


def test_a_bad_feed_url_is_named_but_not_repeated() -> None:
    with pytest.raises(ConfigError) as err:
        parse({"waze": {"feed_url": "waze.com/feed?token=s3cret"}})
    assert "waze.feed_url" in str(err.value) and "s3cret" not in str(err.value)
