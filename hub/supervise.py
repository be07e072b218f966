"""Process supervision: start children, restart the ones that die, stop them all cleanly."""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from hub.errors import EX_CONFIG

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    # Linux: a child gets SIGTERM if the supervisor is killed outright, so nothing is orphaned.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    failures: int = 0
    restart_at: float = 0.0


class Supervisor:
    """Keeps children running until stopped; restarts a crashed child with capped backoff."""

    def __init__(self, children: list[Child], check: Callable[[], None] | None = None) -> None:
        self.children = children
        self.check = check  # run every tick, e.g. to restart the embedded Redis
        self.stopping = threading.Event()

    def _start(self, child: Child) -> None:
        env = {**os.environ, **child.env}
        # Own session: Ctrl-C reaches only the supervisor, which then stops children in order.
        child.process = subprocess.Popen(child.argv, env=env, start_new_session=True, preexec_fn=die_with_parent)
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def run(self) -> int:
        """Start every child and watch them until stop() is called (0), or one cannot run as configured."""
        for child in self.children:
            self._start(child)
        while not self.stopping.wait(0.5):
            if self.check:
                self.check()
            now = time.monotonic()
            for child in self.children:
                proc = child.process
                if proc is not None and proc.poll() is not None:
                    if proc.returncode == EX_CONFIG:
                        # It said why in one line (e.g. its port is taken); a restart would only fail again.
                        log.error("%s cannot run as configured (see its line above); stopping everything",
                                  child.name)
                        self.stopping.set()
                        return EX_CONFIG
                    child.failures += 1
                    delay = min(60.0, 2.0 ** (child.failures - 1))
                    log.error("%s exited with code %s; restarting in %.0fs", child.name, proc.returncode, delay)
                    child.process, child.restart_at = None, now + delay
                elif proc is None and now >= child.restart_at:
                    self._start(child)
                elif proc is not None and child.failures and now - child.restart_at > 60:
                    child.failures = 0  # a minute up: the next crash starts the backoff afresh
        return 0

    def stop(self, timeout: float = 60.0) -> None:
        """Ask every child to finish (SIGTERM: RQ workers finish their current job), then kill stragglers."""
        self.stopping.set()
        live = [c for c in self.children if c.process and c.process.poll() is None]
        for child in live:
            child.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for child in live:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", child.name, timeout)
                child.process.kill()  # type: ignore[union-attr]
                child.process.wait()  # type: ignore[union-attr]
        log.info("all children stopped")
