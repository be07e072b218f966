"""Channel settings for tests whose loops must turn faster than a config file allows."""
from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def quick(settings: M, **timings: Any) -> M:
    """`settings` with values its config section refuses (a poll every 0.05 s, a 1500-byte batch): the bounds keep
    a deployment from hammering a real server, but a test against a fake on loopback wants its loop fast.

    Not validated, on purpose; listeners take a settings object as it is."""
    return settings.model_copy(update=timings)
