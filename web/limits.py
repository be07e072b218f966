"""A sliding-window rate limit kept in this process's memory (each web process counts its own)."""
from __future__ import annotations

import time
from collections import deque


class Limiter:
    """At most `rate` events per `window` seconds for each key; at most `max_keys` keys are remembered."""

    def __init__(self, rate: int, window: float = 60.0, max_keys: int = 50_000) -> None:
        self.rate = rate
        self.window = window
        self.max_keys = max_keys
        self.seen: dict[str, deque[float]] = {}

    def allow(self, key: str) -> bool:
        """Count one event for `key` if its window has room; → whether it had."""
        now = time.monotonic()
        times = self.seen.get(key)
        if times is not None:
            while times and times[0] < now - self.window:
                times.popleft()
            if len(times) >= self.rate:
                return False
        else:
            if len(self.seen) >= self.max_keys:
                self._forget_quiet(now)
            times = self.seen[key] = deque()
        times.append(now)
        return True

    def undo(self, key: str) -> None:
        """Take back `key`'s last event (it turned out not to count, e.g. a login that succeeded)."""
        times = self.seen.get(key)
        if times:
            times.pop()

    def _forget_quiet(self, now: float) -> None:
        for quiet in [k for k, v in self.seen.items() if not v or v[-1] < now - self.window]:
            del self.seen[quiet]
        if len(self.seen) >= self.max_keys:  # all busy: forget the oldest half rather than grow
            for old in sorted(self.seen, key=lambda k: self.seen[k][-1])[: self.max_keys // 2]:
                del self.seen[old]
