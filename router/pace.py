"""Sending pace per channel, shared by every worker through Redis: a reply waits its turn instead of
drawing a 429, and a 429 from a channel pauses all of its sending, not only the chat that drew it."""
from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

# GCRA (the "generic cell rate algorithm"): each key holds the theoretical arrival time of the next send,
# in Redis' own clock (workers on other machines may disagree about the time). A send is allowed when that
# time is at most one burst ahead of now; it then moves on by one interval. Checked for every key first and
# taken for all only when all allow, so a send refused by its group's limit uses none of the bot's.
# KEYS: the channel's pause key, then one key per limit; ARGV: per limit, its interval and burst in ms.
# → 0 when the send may go now, else the milliseconds to wait.
_ADMIT = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = redis.call('pttl', KEYS[1])
if paused > 0 then return paused end
local wait = 0
for i = 2, #KEYS do
  local tat = math.max(tonumber(redis.call('get', KEYS[i]) or now), now)
  local w = tat - tonumber(ARGV[2 * i - 2]) - now
  if w > wait then wait = w end
end
if wait > 0 then return math.ceil(wait) end
for i = 2, #KEYS do
  local interval = tonumber(ARGV[2 * i - 3])
  local tat = math.max(tonumber(redis.call('get', KEYS[i]) or now), now) + interval
  redis.call('set', KEYS[i], tat, 'PX', math.ceil(tat - now + 1000))
end
return 0
"""
# A pause only ever grows: a shorter retry_after must not cut a longer one another worker was given.
_PAUSE = """
if redis.call('pttl', KEYS[1]) < tonumber(ARGV[1]) then redis.call('set', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
"""


@dataclass(frozen=True)
class Rate:
    """How fast one channel may send: per second from the account, and per minute into one group chat."""

    per_second: float
    group_per_minute: float | None = None


class Pace:
    """The shared limits of every channel that has one (outbox.rates in config.yaml)."""

    def __init__(self, conn: Redis, rates: dict[str, Rate]) -> None:
        self.conn = conn
        self.rates = rates
        self._admit = conn.register_script(_ADMIT)
        self._pause = conn.register_script(_PAUSE)

    def admit(self, channel: str, chat_key: str, group: bool) -> float:
        """Take a turn to send one message on `channel` into `chat_key`: 0 when it may go now, else the
        seconds to wait before asking again (nothing is taken then)."""
        rate = self.rates.get(channel)
        keys, args = [_pause_key(channel)], []
        if rate is not None:
            # A burst of one second's worth: a quiet bot answers a sudden crowd at once, then at the pace.
            keys.append(f"crophub:pace:{channel}")
            args += [1000.0 / rate.per_second, 1000.0 * (max(rate.per_second, 1.0) - 1) / rate.per_second]
            if group and rate.group_per_minute:
                keys.append(f"crophub:pace:{chat_key}")
                args += [60000.0 / rate.group_per_minute, 0.0]
        return int(self._admit(keys=keys, args=args)) / 1000.0

    def pause(self, channel: str, seconds: float) -> None:
        """Stop every worker sending on `channel` for `seconds` (the channel answered 429)."""
        if seconds > 0:
            self._pause(keys=[_pause_key(channel)], args=[int(seconds * 1000)])


def _pause_key(channel: str) -> str:
    return f"crophub:pause:{channel}"
