"""tickets.closure_checks (verified closure): the limits a city sets reach the router's jobs, and nonsense is refused
naming the key."""
from __future__ import annotations

import pytest

from hub.runtime import router_config
from hub.settings import ConfigError, parse
from store.photo_checks import Limits


def test_the_limits_set_reach_the_router() -> None:
    settings = parse({"tickets": {"closure_checks": {"max_distance_m": 150, "hash_distance": 3, "compare_days": 90}}})
    config = router_config(settings)
    assert config.closure == Limits(max_distance_m=150, hash_distance=3, time_slack_minutes=10)
    assert config.closure_compare_days == 90
    assert router_config(parse({})).closure == Limits()


@pytest.mark.parametrize("checks, key", [({"max_distance_m": 0}, "max_distance_m"), ({"hash_distance": 64}, "hash_distance"),
                                         ({"distance": 300}, "distance")])
def test_nonsense_is_refused_naming_the_key(checks: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"tickets\.closure_checks\.{key}"):
        parse({"tickets": {"closure_checks": checks}})
