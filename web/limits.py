"""A sliding-window rate limit kept in this process's memory (each web process counts its own)."""
from __future__ import annotations

import time
from collections import defaultdict, deque


class Limiter:
    """At most `rate` events per `window` seconds for each key."""

    def __init__(self, rate: int, window: float = 60.0, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.window = window
        self.max_keys = max_keys
        self.seen: dict[str, deque[float]] = defaultdict(deque)

    def full(self, key: str) -> bool:
        """Whether `key` has used its events of the window (without counting one)."""
        times = self._current(key)
        return len(times) >= self.rate

    def hit(self, key: str) -> None:
        """Count one event for `key`."""
        self._current(key).append(time.monotonic())
        if len(self.seen) > self.max_keys:  # quiet keys go, so memory stays bounded
            cutoff = time.monotonic() - self.window
            for quiet in [k for k, v in self.seen.items() if not v or v[-1] < cutoff]:
                del self.seen[quiet]

    def allow(self, key: str) -> bool:
        """Count one event for `key` if its window has room; → whether it had."""
        if self.full(key):
            return False
        self.hit(key)
        return True

    def _current(self, key: str) -> deque[float]:
        times = self.seen[key]
        cutoff = time.monotonic() - self.window
        while times and times[0] < cutoff:
            times.popleft()
        return times
