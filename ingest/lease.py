"""A Redis lease: one holder at a time across the machines that share a Redis, kept by renewing it."""
from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from redis import Redis

# Seconds a lease lasts without a renewal: how long a standby waits for a holder that died without releasing.
LEASE_SECONDS = 15.0

# Both act only while the key still holds our token: a holder whose lease expired and was taken over
# must neither extend nor delete the new holder's lease.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# A lease taken from a dead holder: only if it still names that holder, so two processes taking it at once
# cannot both succeed.
_TAKE = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
         "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) end return false")


class Lease:
    """One key that at most one token holds, for `seconds` after its last acquire or renew."""

    def __init__(self, conn: Redis, key: str, seconds: float = LEASE_SECONDS) -> None:
        self.conn = conn
        self.key = key
        self.seconds = seconds
        # Says who holds it, for an operator reading the log or `redis-cli get <key>`.
        self.token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._renew = conn.register_script(_RENEW)
        self._release = conn.register_script(_RELEASE)
        self._take = conn.register_script(_TAKE)

    def _millis(self) -> int:
        return max(1, round(self.seconds * 1000))

    def acquire(self) -> bool:
        """Take the lease if nobody holds it; True if this token holds it now."""
        if self.conn.set(self.key, self.token, nx=True, px=self._millis()):
            return True
        # A SET whose reply was lost (a timeout) may have taken it: ours all the same.
        holder = self.holder()
        if holder == self.token:
            return True
        # A holder on this machine whose process is gone (a listener killed and restarted by `crophub run`)
        # cannot renew: take its lease now rather than wait for it to run out.
        if holder is not None and _dead_here(holder):
            return bool(self._take(keys=[self.key], args=[holder, self.token, self._millis()]))
        return False

    def renew(self) -> bool:
        """Extend the lease by `seconds`; False if this token no longer holds it."""
        return bool(self._renew(keys=[self.key], args=[self.token, self._millis()]))

    def release(self) -> None:
        """Give the lease up at once, if this token still holds it."""
        self._release(keys=[self.key], args=[self.token])

    def holder(self) -> str | None:
        """The token that holds the lease now; None if nobody does."""
        value: Any = self.conn.get(self.key)  # bytes, or str on a decode_responses connection
        return value.decode() if isinstance(value, bytes) else value


def _dead_here(token: str) -> bool:
    """Whether `token` names a process on this machine that no longer runs."""
    host, _, rest = token.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False
