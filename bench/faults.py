"""Fault benchmark: crophub run as separate processes while its Redis, a worker, Telegram or the database fail.

Not a test: it prints figures. Like bench/intake.py it drives the hub through the fake Bot API on loopback
(the real python-telegram-bot client on the hub's side), each update from its own chat so that a reply is
matched to its report. The hub runs as an operator would run it on several machines: its own redis-server
(the embedded Redis's binary and flags, appendonly, on a loopback port), its own PostgreSQL cluster (initdb
in a temp dir, trust auth), `crophub migrate`, one `crophub listen` and N × `crophub worker --processes 1`,
restarted by a watchdog if they exit (as `crophub run`'s supervisor would). Scenarios (--only to pick):

  redis-kill   Redis SIGKILLed at 1/3 and 2/3 of the feed, restarted on the same port and dir (AOF reload)
  worker-kill  the longest-running worker SIGKILLed every 2 s while the feed lasts, restarted at once
  storm        sendMessage answers 429 (retry_after) for 30 s, then 502 for 30 s, while messages flow
  db-stop      PostgreSQL stopped (pg_ctl -m fast) 10 s into the feed, started again 30 s later

For each: injected, stored (inbound rows), answered (chats with a reply), lost (injected - answered after the
drain timeout), doubled (chats whose acknowledgement, their first reply, arrived twice or more), time to drain
(end of the fault → last acknowledgement). Targets: lost = 0 everywhere, doubled = 0 for redis-kill and
storm; the exit status is 1 when one is missed.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.faultlib import (REPO, FakeBotAPI, Feeder, Hub, Postgres, RedisServer, Stack, clean_dir,  # noqa: E402
                            doubled, export, replies_by_chat, wait_drained, wait_until)

# name → (default messages, default rate in msg/s, doubles allowed): sizes from issue 16.
SCENARIOS: dict[str, tuple[int, float, bool]] = {
    "redis-kill": (5000, 100.0, False),
    "worker-kill": (3000, 100.0, True),
    "storm": (1200, 20.0, False),
    "db-stop": (2400, 40.0, True),
}
WARMUP = 20  # reports answered before the measured feed starts: every process is up, the model loaded


@dataclass
class Result:
    """One scenario's figures."""

    name: str
    injected: int
    stored: int
    answered: int
    doubles: list[float]  # per doubled chat, seconds from its acknowledgement to the second copy
    drain: float | None  # seconds from the end of the fault to the last acknowledgement; None: not drained
    feed_after: float  # seconds the feed went on after the fault ended (part of the drain time)
    faults: str
    outbox: dict[str, int]
    replies: int  # messages the fake received for the fed chats
    restarts: int
    load: tuple[float, float, float]
    doubles_allowed: bool

    @property
    def doubled(self) -> int:
        """Chats that got their acknowledgement twice or more."""
        return len(self.doubles)

    @property
    def lost(self) -> int:
        """Reports that never got a reply."""
        return self.injected - self.answered

    @property
    def ok(self) -> bool:
        """True when the issue's targets are met."""
        return self.lost == 0 and (self.doubles_allowed or self.doubled == 0)


@dataclass
class Context:
    """What a scenario's fault needs to reach."""

    api: FakeBotAPI
    hub: Hub
    redis: RedisServer
    pg: Postgres
    feeder: Feeder
    args: argparse.Namespace


def sleep_until(t: float) -> None:
    """Sleep until perf_counter() reaches t."""
    time.sleep(max(0.0, t - time.perf_counter()))


def fault_redis_kill(c: Context) -> tuple[float, str]:
    """SIGKILL Redis at 1/3 and 2/3 of the feed; restart it after --down seconds."""
    span = c.feeder.n / c.feeder.rate
    for k in range(1, c.args.kills + 1):
        sleep_until(c.feeder.started_at + span * k / (c.args.kills + 1))
        c.redis.sigkill()
        time.sleep(c.args.down)
        c.redis.start()
    return time.perf_counter(), f"{c.args.kills} SIGKILL(s), {c.args.down:g}s down each"


def fault_worker_kill(c: Context) -> tuple[float, str]:
    """SIGKILL the longest-running worker every --interval seconds until the feed ends."""
    kills, last = 0, time.perf_counter()
    while c.feeder.is_alive():
        time.sleep(c.args.interval)
        c.hub.kill_oldest_worker()
        kills, last = kills + 1, time.perf_counter()
    return last, f"{kills} worker SIGKILLs, every {c.args.interval:g}s"


def fault_storm(c: Context) -> tuple[float, str]:
    """429 with retry_after for half of --storm seconds, then 502 for the other half."""
    half = c.args.storm / 2
    body429 = {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {c.args.retry_after}",
               "parameters": {"retry_after": c.args.retry_after}}
    body502 = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    with c.api._lock:
        calls_before = c.api.calls.count("sendMessage")
    start = time.perf_counter()
    try:
        set_errors(c.api, 429, body429)
        sleep_until(start + half)
        set_errors(c.api, 502, body502)
        sleep_until(start + 2 * half)
    finally:
        set_errors(c.api, None, {})
    with c.api._lock:
        refused = c.api.calls.count("sendMessage") - calls_before
    return time.perf_counter(), (f"{c.args.storm:g}s storm (429 retry_after={c.args.retry_after}, then 502): "
                                 f"{refused} sendMessage calls refused")


def set_errors(api: FakeBotAPI, status: int | None, body: dict) -> None:
    """Answer every sendMessage with this error from now on (None: stop)."""
    with api._lock:
        api.errors.pop("sendMessage", None)  # fail_next queues a count; a storm is a span of time
    if status is not None:
        api.fail_next("sendMessage", status, body, times=10**6)


def fault_db_stop(c: Context) -> tuple[float, str]:
    """pg_ctl stop -m fast --lead seconds into the feed; start again --db-down seconds later."""
    sleep_until(c.feeder.started_at + c.args.lead)
    c.pg.stop()
    stopped = time.perf_counter()
    sleep_until(stopped + c.args.db_down)
    c.pg.start()
    return time.perf_counter(), f"PostgreSQL down {time.perf_counter() - stopped:.1f}s from t={c.args.lead:g}s"


FAULTS: dict[str, Callable[[Context], tuple[float, str]]] = {
    "redis-kill": fault_redis_kill, "worker-kill": fault_worker_kill, "storm": fault_storm, "db-stop": fault_db_stop,
}


def run_scenario(name: str, index: int, pg: Postgres, root: Path, source: Path, args: argparse.Namespace) -> Result:
    """Start a fresh hub (own Redis, own database), warm it up, feed, inject the fault, drain, count."""
    n_default, rate_default, doubles_allowed = SCENARIOS[name]
    n, rate = args.n or n_default, args.rate or rate_default
    db = f"faults_{name.replace('-', '_')}"
    # Two stacks: the hub's processes stop first, while Redis still answers their goodbyes.
    infra, procs, api = Stack(), Stack(), FakeBotAPI().start()
    hub: Hub | None = None
    feeder: Feeder | None = None
    try:
        redis = RedisServer(infra, root / name / "redis")
        redis.start()
        hub = Hub(procs, root / name / "hub", api, pg.create(db), redis.url, args.workers, source)
        hub.migrate()
        hub.start()
        warm = Feeder(api, WARMUP, 1000.0, 90_000_000 + index * 1000)
        warm.start()
        warm.join()
        wait_until(lambda: len(replies_by_chat(api, warm.chats)) == WARMUP, 180, "warm-up reports not answered")
        stored_before, _ = pg.counts(db)
        feeder = feed = Feeder(api, n, rate, (index + 1) * 10_000_000)
        feed.start()
        wait_until(lambda: feed.started_at > 0, 5, "feeder did not start")
        fault_end, faults = FAULTS[name](Context(api, hub, redis, pg, feed, args))
        by_chat = wait_drained(api, feed, args.drain_timeout, lambda: pg.counts(db)[1].get("pending", 0),
                               args.pending_wait, args.settle)
        stored_after, outbox = pg.counts(db)
        acks = [records[0]["at"] for records in by_chat.values()]
        drained = len(by_chat) == feed.pushed
        return Result(name, feed.pushed, stored_after - stored_before, len(by_chat), doubled(by_chat),
                      max(0.0, max(acks) - fault_end) if drained and acks else None,
                      max(0.0, feed.ended_at - fault_end), faults, outbox,
                      sum(len(records) for records in by_chat.values()),
                      sum(hub.restarts.values()), os.getloadavg(), doubles_allowed)
    finally:
        if feeder and feeder.is_alive():
            feeder.halt.set()  # interrupted mid-feed: no push into a stopped fake
            feeder.join()
        if hub:
            hub.stop()
        procs.close()
        infra.close()
        api.stop()


def report(r: Result) -> str:
    """One scenario's figures, as printed."""
    drain = f"{r.drain:.1f}s" if r.drain is not None else "not drained within the timeout"
    if r.drain is not None and r.feed_after:
        drain += f" (the feed went on {r.feed_after:.1f}s after the fault)"
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(r.outbox.items()))
    target = "doubled any" if r.doubles_allowed else "doubled = 0"
    gaps = f" (second copy {min(r.doubles):.1f}-{max(r.doubles):.1f}s after the first)" if r.doubles else ""
    return (f"{r.name:11s} injected {r.injected}, stored {r.stored}, answered {r.answered}, lost {r.lost}, "
            f"doubled {r.doubled}{gaps}, time to drain {drain}  [{'ok' if r.ok else 'MISSED'}: lost = 0, {target}]\n"
            f"{'':11s} fault: {r.faults}\n"
            f"{'':11s} replies received: {r.replies}; outbox rows (warm-up's included): {outbox}; "
            f"unasked process exits restarted: {r.restarts}; load {r.load[0]:.2f} {r.load[1]:.2f} {r.load[2]:.2f}")


def describe_tree() -> str:
    """HEAD's short id, and whether tracked files differ from it."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    dirty = ", with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"the working tree (HEAD {git('rev-parse', '--short', 'HEAD')}{dirty})"


def parse_args() -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", action="append", choices=list(SCENARIOS), help="run only this scenario (repeatable)")
    p.add_argument("-n", type=int, help="messages per scenario (default: redis-kill 5000, worker-kill 3000, "
                                        "storm 1200, db-stop 2400)")
    p.add_argument("--rate", type=float, help="offered msg/s (default: 100, 100, 20, 40)")
    p.add_argument("--workers", type=int, default=2, help="crophub worker processes (default 2)")
    p.add_argument("--kills", type=int, default=2, help="redis-kill: SIGKILLs spread over the feed (default 2)")
    p.add_argument("--down", type=float, default=1.0, help="redis-kill: seconds Redis stays dead (default 1)")
    p.add_argument("--interval", type=float, default=2.0, help="worker-kill: seconds between kills (default 2)")
    p.add_argument("--storm", type=float, default=60.0, help="storm: seconds, half 429 then half 502 (default 60)")
    p.add_argument("--retry-after", type=int, default=5, help="storm: the 429s' retry_after (default 5)")
    p.add_argument("--lead", type=float, default=10.0, help="db-stop: seconds into the feed it stops (default 10)")
    p.add_argument("--db-down", type=float, default=30.0, help="db-stop: seconds it stays stopped (default 30)")
    p.add_argument("--drain-timeout", type=float, default=300.0,
                   help="seconds after the fault and the feed end to wait for every reply (default 300)")
    p.add_argument("--pending-wait", type=float, default=120.0,
                   help="seconds to wait, once every chat has a reply, for pending outbox rows to go (default 120)")
    p.add_argument("--settle", type=float, default=10.0, help="seconds to wait for late doubles once drained")
    p.add_argument("--commit", help="run this commit's code (exported with git archive) instead of the working "
                                    "tree, e.g. HEAD while others edit it")
    p.add_argument("--keep", action="store_true", help="keep the scratch dir (process logs, data) and print it")
    return p.parse_args()


def main() -> int:
    """Run the chosen scenarios; 1 when a target is missed."""
    args = parse_args()
    # A worker killed mid-request makes the fake's server log a traceback: the fault itself, not news.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    # SIGTERM ends the run as Ctrl-C does: through the finally blocks that stop every process.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    root = Path(tempfile.mkdtemp(prefix="crophub-faults-"))
    stack, results = Stack(), []
    try:
        if args.commit:
            source, measured = root / "src", f"commit {export(args.commit, root / 'src')} (exported)"
        else:
            source, measured = REPO, describe_tree()
        print(f"faults: crophub at {measured}; {os.cpu_count()} cores; load "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.workers} workers; PostgreSQL; "
              f"Redis appendonly", flush=True)
        pg = Postgres(stack, root)
        pg.init()
        for index, name in enumerate(args.only or SCENARIOS):
            results.append(run_scenario(name, index, pg, root, source, args))
            print(report(results[-1]), flush=True)
    except KeyboardInterrupt:
        print("faults: interrupted; stopping everything", file=sys.stderr)
        return 130
    finally:
        stack.close()
        if args.keep:
            print(f"faults: logs and data kept in {root}", file=sys.stderr)
        else:
            clean_dir(root)
    missed = [r.name for r in results if not r.ok]
    if missed:
        print(f"faults: targets missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
