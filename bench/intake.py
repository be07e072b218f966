"""Intake benchmark: updates served by a fake Bot API → acknowledgements received back by it.

For each setup (database × worker processes × hosts) it starts crophub against the fake Bot API on loopback, then:
  1. throughput: N updates queued at once; messages/s from the first update served to the last ack, repeated
     (`--repeat`), each run also measured in CPU: the milliseconds (user + system) the whole process tree spent per
     message (listener, workers, Redis, and PostgreSQL's server when it is the database; bench/cpu.py), the figure
     that does not swing with the machine's other work; min / median / max, and where the CPU went;
  2. latency: updates offered at a fixed rate (`--rate`); p50/p99 from each update served to its ack.
Then the same throughput runs against a bare python-telegram-bot echo bot, and the ratios.

SQLite runs `crophub run` as `make run` does (embedded Redis, a SQLite file). PostgreSQL runs it on a private cluster
(initdb in a scratch dir, as bench/faults.py does; skipped with a line when initdb is not found). `--hosts 2` adds a
second "host": another process group, `crophub worker --processes W` with its own config, sharing only PostgreSQL and
a Redis server with the first (`crophub run` with its listener and W workers); it prints the jobs each host's workers
did and whether any chat was answered twice.
Each update comes from its own chat, so an ack is matched to its update by chat id.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import cpu, faultlib  # noqa: E402
from bench.feed import update  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402


@dataclass(frozen=True)
class Setup:
    """What runs: the database, crophub worker processes per host, and hosts (2: a second worker group)."""

    database: str
    workers: int
    hosts: int = 1

    def __str__(self) -> str:
        return f"{self.database}, {self.workers} worker{'s' if self.workers > 1 else ''}" + \
            (f" × {self.hosts} hosts" if self.hosts > 1 else "")


@dataclass
class Result:
    """One setup's figures."""

    setup: Setup
    rates: list[float]
    cpu_ms: list[float]
    shares: dict[str, float]
    latency: list[float]
    latency_pushed: list[float]
    notes: list[str] = field(default_factory=list)


def acks_by_chat(api: FakeBotAPI) -> dict[int, float]:
    with api._lock:
        return {int(m["chat_id"]): m["at"] for m in api.sent}


def wait_acks(api: FakeBotAPI, chats: range, timeout: float) -> dict[int, float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        acks = acks_by_chat(api)
        if all(c in acks for c in chats):
            return acks
        time.sleep(0.05)
    acks = acks_by_chat(api)
    missing = [c for c in chats if c not in acks]
    raise SystemExit(f"timed out: {len(missing)} of {len(chats)} acks missing")


def served_by_chat(api: FakeBotAPI, ids: dict[int, int]) -> dict[int, float]:
    with api._lock:
        return {chat: api.served_at[uid] for chat, uid in ids.items() if uid in api.served_at}


def throughput(api: FakeBotAPI, n: int, base_chat: int, timeout: float) -> tuple[float, float]:
    ids = {base_chat + i: api.push(update(i, base_chat)) for i in range(n)}
    acks = wait_acks(api, range(base_chat, base_chat + n), timeout)
    served = served_by_chat(api, ids)
    span = max(acks[c] for c in ids) - min(served.values())
    return n / span, span


def snapshot(roots: dict[str, int]) -> list[cpu.Proc]:
    """Every process under each root, named with its group ("host B: hub.cli worker") when there are several."""
    procs: list[cpu.Proc] = []
    for label, pid in roots.items():
        procs += [cpu.Proc(p.pid, f"{label}: {p.name}" if label else p.name, p.cpu) for p in cpu.tree(pid)]
    return procs


def measured(api: FakeBotAPI, roots: dict[str, int], n: int, repeat: int, base_chat: int,
             timeout: float) -> tuple[list[float], list[float], dict[str, float]]:
    """`repeat` throughput runs of `n` updates: → messages/s of each, CPU ms per message of each (the process trees
    of `roots`), and the CPU seconds of all runs by process name."""
    rates, per_message, shares = [], [], {}
    for k in range(repeat):
        before = snapshot(roots)
        rate, _ = throughput(api, n, base_chat + k * 1_000_000, timeout)
        time.sleep(0.5)  # the last acks' work (the outbox rows marked sent) is part of the message's cost
        after = snapshot(roots)
        rates.append(rate)
        per_message.append((cpu.total(after) - cpu.total(before)) * 1000 / n)
        for name, seconds in cpu.by_name(before, after).items():
            shares[name] = shares.get(name, 0.0) + seconds
    return rates, per_message, shares


def spread(values: list[float], unit: str = "") -> str:
    """min / median / max of `values`."""
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}{unit}"


def where(shares: dict[str, float]) -> str:
    """The CPU of the runs by process, largest first, as shares."""
    whole = sum(shares.values()) or 1.0
    return ", ".join(f"{name} {100 * seconds / whole:.0f}%" for name, seconds in
                     sorted(shares.items(), key=lambda kv: -kv[1]) if seconds / whole >= 0.01)


def latency(api: FakeBotAPI, rate: float, seconds: float, base_chat: int, timeout: float) -> tuple[list[float], list[float]]:
    n = int(rate * seconds)
    ids: dict[int, int] = {}
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        ids[base_chat + i] = api.push(update(i, base_chat))
    acks = wait_acks(api, range(base_chat, base_chat + n), timeout)
    served = served_by_chat(api, ids)
    with api._lock:
        pushed = {chat: api.pushed_at[uid] for chat, uid in ids.items()}
    return (sorted((acks[c] - served[c]) * 1000 for c in ids), sorted((acks[c] - pushed[c]) * 1000 for c in ids))


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def wait_polling(api: FakeBotAPI, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode} before polling")
        if "getUpdates" in api.calls:
            return
        time.sleep(0.1)
    raise SystemExit("no getUpdates within the timeout")


def _postmaster(pg: faultlib.Postgres) -> int:
    return int((pg.data / "postmaster.pid").read_text().split()[0])


@dataclass
class Started:
    """A setup's processes: the roots whose process trees are measured (by label), and what they share."""

    roots: dict[str, int]
    database_url: str | None
    redis_url: str | None


@contextmanager
def running(setup: Setup, api: FakeBotAPI, stack: faultlib.Stack, tmp: Path) -> Iterator[Started]:
    """Start the setup's processes."""
    with api._lock:
        api.calls.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
    env.update(CROPHUB_TELEGRAM_TOKEN=api.token, PYTHONPATH=str(REPO))
    config: dict[str, Any] = {
        "hub": {"log_level": "WARNING", "var_dir": str(tmp / "var")},
        "web": {"enabled": False},
        "workers": {"processes": setup.workers},
        # The fake Bot API has no 30 messages/s limit: measure the hub, not the pace kept for Telegram.
        "outbox": {"rates": {}},
        "telegram": {"api_base_url": api.base_url, "file_base_url": api.file_base_url, "poll_timeout": 10},
    }
    roots: dict[str, int] = {}
    if setup.database == "postgresql":
        pg = faultlib.Postgres(stack, tmp)
        pg.init()
        config["database"] = {"url": pg.create("crophub")}
        roots["postgres"] = _postmaster(pg)
    if setup.hosts > 1:
        redis = faultlib.RedisServer(stack, tmp / "redis")
        redis.start()
        config["redis"] = {"url": redis.url}
        assert redis.proc is not None
        roots["redis"] = redis.proc.pid
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    argv = [sys.executable, "-m", "hub.cli", "--config", str(tmp / "config.yaml")]
    hub = stack.popen([*argv, "run"], tmp / "hub.log", cwd=tmp, env=env)
    wait_polling(api, hub)
    roots["host A" if setup.hosts > 1 else ""] = hub.pid
    for k in range(1, setup.hosts):
        other = stack.popen([*argv, "worker", "--processes", str(setup.workers)], tmp / f"host-{k}.log", cwd=tmp,
                            env=env)
        roots[f"host {chr(ord('A') + k)}"] = other.pid
    yield Started(roots, config.get("database", {}).get("url"), config.get("redis", {}).get("url"))


def connections(url: str) -> int:
    """Connections to the database now open (the pools keep what they opened, up to store.db.POOL_SIZE each)."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()").fetchone()
    return int(row[0]) if row else 0


def jobs_by_host(redis_url: str, roots: dict[str, int]) -> dict[str, int]:
    """Jobs each host's RQ workers finished (RQ's own per-worker count), by host label."""
    from redis import Redis
    from rq import Worker

    hosts = {label: {p.pid for p in cpu.tree(pid)} for label, pid in roots.items() if label.startswith("host")}
    done = {label: 0 for label in hosts}
    for worker in Worker.all(connection=Redis.from_url(redis_url)):
        pid = int(worker.name.rsplit("-", 1)[-1]) if worker.name.rsplit("-", 1)[-1].isdigit() else -1
        for label, pids in hosts.items():
            if pid in pids:
                done[label] += worker.successful_job_count
    return done


def bench(setup: Setup, api: FakeBotAPI, args: argparse.Namespace, base: int) -> Result:
    """Start the setup, warm it up, measure throughput, CPU and latency, stop it."""
    timeout = max(120.0, args.n / 20)
    stack = faultlib.Stack()
    with tempfile.TemporaryDirectory(prefix="crophub-bench-") as name:
        tmp = Path(name)
        try:
            with running(setup, api, stack, tmp) as started:
                roots = started.roots
                throughput(api, 200, base, timeout)  # warm-up: imports, connections, the database's pages
                rates, per_message, shares = measured(api, roots, args.n, args.repeat, base + 1_000_000, timeout)
                lat, lat_pushed = latency(api, args.rate, args.seconds, base + 9_000_000, timeout)
                result = Result(setup, rates, per_message, shares, lat, lat_pushed)
                if setup.hosts > 1 and started.redis_url:
                    done = jobs_by_host(started.redis_url, roots)
                    result.notes.append("jobs done: " + ", ".join(f"{h} {n}" for h, n in done.items()))
                if started.database_url:
                    result.notes.append(f"PostgreSQL connections open after the runs: {connections(started.database_url)}")
                with api._lock:
                    chats = [int(m["chat_id"]) for m in api.sent if int(m["chat_id"]) >= base]
                twice = len(chats) - len(set(chats))
                result.notes.append(f"chats answered: {len(set(chats))}, answered twice: {twice}")
        finally:
            stack.close()
    return result


def echo(api: FakeBotAPI, args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """The bare echo bot's throughput runs: → (messages/s, CPU ms per message)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
    with api._lock:
        api.calls.clear()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "echo_bot.py"), api.token, api.base_url], env=env)
    try:
        wait_polling(api, proc)  # type: ignore[arg-type]
        timeout = max(120.0, args.n / 20)
        throughput(api, 200, 900_000_000, timeout)
        rates, per_message, _ = measured(api, {"": proc.pid}, args.n, args.repeat, 910_000_000, timeout)
    finally:
        proc.terminate()
        proc.wait(30)
    return rates, per_message


def counts(text: str) -> list[int]:
    """"1,2,4" → [1, 2, 4]."""
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="updates in each throughput run (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per setup, each measured (default 3)")
    parser.add_argument("--rate", type=float, default=200, help="offered rate for the latency run, msg/s (default 200)")
    parser.add_argument("--seconds", type=float, default=10, help="length of the latency run (default 10)")
    parser.add_argument("--workers", type=counts, default=[2], help="worker processes, one setup each: 2 or 1,2,4")
    parser.add_argument("--databases", default="sqlite,postgresql",
                        help="sqlite, postgresql or both (default both; postgresql needs initdb, see bench/README.md)")
    parser.add_argument("--hosts", type=int, default=1, help="2: a second worker group per PostgreSQL setup")
    parser.add_argument("--skip-echo", action="store_true", help="do not run the echo-bot baseline")
    args = parser.parse_args()

    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if "postgresql" in databases and not (faultlib.PG_BIN / "initdb").exists():
        print(f"postgresql: skipped: no initdb in {faultlib.PG_BIN} (set CROPHUB_PG_BIN)")
        databases.remove("postgresql")
    setups = [Setup(d, w) for d in databases for w in args.workers]
    if args.hosts > 1:
        setups += [Setup("postgresql", w, args.hosts) for w in args.workers if "postgresql" in databases]

    api = FakeBotAPI().start()
    results: list[Result] = []
    try:
        for k, setup in enumerate(setups):
            results.append(bench(setup, api, args, 10_000_000 * (k + 1)))
            report(results[-1], args)
        echoed = None if args.skip_echo else echo(api, args)
    finally:
        api.stop()

    print()
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (1 min); {args.repeat} throughput runs of "
          f"{args.n} updates per setup; latency at {args.rate:.0f} msg/s offered for {args.seconds:.0f} s")
    print(f"{'setup':38s} {'msg/s min/med/max':>22s} {'CPU ms/msg min/med/max':>24s} {'p50 ms':>7s} {'p99 ms':>7s}")
    for r in results:
        print(f"{str(r.setup):38s} {spread(r.rates):>22s} {spread(r.cpu_ms):>24s} {pct(r.latency, 50):7.1f} "
              f"{pct(r.latency, 99):7.1f}")
    if echoed:
        rates, per_message = echoed
        print(f"{'echo bot (python-telegram-bot defaults)':38s} {spread(rates):>22s} {spread(per_message):>24s}")
        for r in results:
            print(f"ratio {r.setup} / echo bot: throughput {statistics.median(r.rates) / statistics.median(rates):.2f}, "
                  f"CPU per message {statistics.median(r.cpu_ms) / statistics.median(per_message):.2f}")
    ratios(results)


def report(r: Result, args: argparse.Namespace) -> None:
    """One setup's figures, as soon as they are measured."""
    print(f"{r.setup}: throughput {spread(r.rates, ' msg/s')}; CPU per message {spread(r.cpu_ms, ' ms')} "
          f"(min / median / max of {args.repeat})", flush=True)
    print(f"    where: {where(r.shares)}")
    print(f"    latency at {args.rate:.0f} msg/s ({len(r.latency)} messages): p50 {pct(r.latency, 50):.1f} ms, "
          f"p99 {pct(r.latency, 99):.1f} ms, max {r.latency[-1]:.1f} ms (update served → ack); from its arrival at "
          f"the fake server (with the wait for getUpdates): p50 {pct(r.latency_pushed, 50):.1f}, "
          f"p99 {pct(r.latency_pushed, 99):.1f} ms")
    for note in r.notes:
        print(f"    {note}")


def ratios(results: list[Result]) -> None:
    """PostgreSQL against SQLite, and each worker count against one, by median throughput."""
    by = {(r.setup.database, r.setup.workers, r.setup.hosts): statistics.median(r.rates) for r in results}
    for (database, workers, hosts), rate in sorted(by.items()):
        if database == "postgresql" and hosts == 1 and ("sqlite", workers, 1) in by:
            print(f"postgresql / sqlite, {workers} workers: {rate / by[('sqlite', workers, 1)]:.2f}")
        if workers != 1 and (database, 1, hosts) in by:
            print(f"{database}, {hosts} host(s): {workers} workers / 1: {rate / by[(database, 1, hosts)]:.2f}")
        if hosts > 1 and (database, workers, 1) in by:
            print(f"{database}, {workers} workers: {hosts} hosts / 1: {rate / by[(database, workers, 1)]:.2f}")


if __name__ == "__main__":
    main()
