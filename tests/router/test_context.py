"""The router's per-process context: a model loaded once is kept while the settings it was loaded with hold."""
from __future__ import annotations

import redis

from router import context
from router.context import RouterConfig


def test_configuring_again_keeps_the_loaded_model_unless_its_settings_change(redis_conn: redis.Redis) -> None:
    context.configure(RouterConfig(), redis_conn)
    first = context.classifier()
    context.configure(RouterConfig(), redis_conn)
    assert context.classifier() is first
    context.configure(RouterConfig(confidence_threshold=0.99), redis_conn)
    stricter = context.classifier()
    assert stricter is not first and stricter.threshold == 0.99
