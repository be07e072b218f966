"""Intake benchmark: updates served by a fake Bot API → acknowledgements received back by it.

Starts `crophub run` (embedded Redis, SQLite, its workers and the Telegram poller) against the fake
Bot API on loopback, then:
  1. throughput: N updates queued at once; messages/s from the first update served to the last ack;
  2. latency: updates offered at a fixed rate; p50/p99 from each update served to its ack;
  3. the same throughput run against a bare python-telegram-bot echo bot, and the ratio.
Each update comes from its own chat, so an ack is matched to its update by chat id. Each throughput run is
repeated (`--repeat`) and also measured in CPU: the milliseconds (user + system) the whole process tree spent per
message (poller, workers and their forked jobs, embedded Redis; bench/cpu.py), the figure that does not swing with
the machine's other work; min / median / max over the runs, and where the CPU went.
"""
from __future__ import annotations

import argparse
import os
import statistics
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import cpu  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402

TEXTS = [
    "Banjir setinggi lutut di Jl. Dermaga Raya, Klender",
    "Tolong min, sampah numpuk di depan Pasar Minggu sudah 3 hari",
    "Parkir liar di trotoar Jl. Kemang Raya bikin macet",
    "Jalan berlubang besar dekat Halte Cawang, bahaya buat motor",
    "There is a fallen tree blocking the road near Blok M, pohon tumbang",
]


def update(i: int, base_chat: int) -> dict:
    chat = base_chat + i
    user = {"id": chat, "is_bot": False, "first_name": f"Warga {i}", "language_code": "id"}
    return {"message": {"message_id": 1, "from": user, "chat": {"id": chat, "type": "private", "first_name": f"Warga {i}"},
                        "date": int(time.time()), "text": TEXTS[i % len(TEXTS)]}}


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


def measured(api: FakeBotAPI, proc: subprocess.Popen, n: int, repeat: int, base_chat: int,
             timeout: float) -> tuple[list[float], list[float], dict[str, float]]:
    """`repeat` throughput runs of `n` updates: → messages/s of each, CPU ms per message of each (the process tree of
    `proc`), and the CPU seconds of all runs by process name."""
    rates, per_message, shares = [], [], {}
    for k in range(repeat):
        before = cpu.tree(proc.pid)
        rate, _ = throughput(api, n, base_chat + k * 1_000_000, timeout)
        time.sleep(0.5)  # the last acks' work (the outbox rows marked sent) is part of the message's cost
        after = cpu.tree(proc.pid)
        rates.append(rate)
        per_message.append((cpu.total(after) - cpu.total(before)) * 1000 / n)
        for name, seconds in cpu.by_name(before, after).items():
            shares[name] = shares.get(name, 0.0) + seconds
    return rates, per_message, shares


def spread(values: list[float], unit: str) -> str:
    """min / median / max of `values`."""
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f} {unit} (min / median / max)"


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


def wait_polling(api: FakeBotAPI, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited with {proc.returncode} before polling")
        if "getUpdates" in api.calls:
            return
        time.sleep(0.1)
    raise SystemExit("no getUpdates within the timeout")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5000, help="updates in the throughput run (default 5000)")
    parser.add_argument("--rate", type=float, default=300, help="offered rate for the latency run, msg/s (default 300)")
    parser.add_argument("--seconds", type=float, default=10, help="length of the latency run (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="crophub worker processes (default 2)")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--skip-echo", action="store_true", help="do not run the echo-bot baseline")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs, each measured (default 3)")
    args = parser.parse_args()
    timeout = max(120.0, args.n / 20)

    api = FakeBotAPI().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
    env.update(CROPHUB_TELEGRAM_TOKEN=api.token, PYTHONPATH=str(REPO))
    with tempfile.TemporaryDirectory(prefix="crophub-bench-") as tmp:
        config = {
            "hub": {"log_level": "WARNING"},
            "web": {"enabled": False},
            "workers": {"processes": args.workers},
            # The fake Bot API has no 30 messages/s limit: measure the hub, not the pace kept for Telegram.
            "outbox": {"rates": {}},
            "telegram": {"api_base_url": api.base_url, "file_base_url": api.file_base_url, "poll_timeout": 10},
        }
        if args.database_url:
            config["database"] = {"url": args.database_url}
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump(config))
        hub = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], cwd=tmp, env=env)
        try:
            wait_polling(api, hub)
            throughput(api, 200, 5_000_000, timeout)  # warm-up: imports, connections, SQLite pages
            hub_rates, hub_cpu, hub_where = measured(api, hub, args.n, args.repeat, 10_000_000, timeout)
            lat, lat_pushed = latency(api, args.rate, args.seconds, 90_000_000, timeout)
        finally:
            stop(hub)

    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f} (1 min); database: "
          f"{args.database_url or 'sqlite (default)'}; workers: {args.workers}; Redis: embedded")
    print(f"crophub  throughput: {spread(hub_rates, 'messages/s')}, {args.repeat} runs of {args.n} updates "
          f"(served → acks received)")
    print(f"crophub  CPU per message: {spread(hub_cpu, 'ms')} (user + system, the whole process tree)")
    print(f"{'':9s}where: {where(hub_where)}")
    print(f"crophub  latency at {args.rate:.0f} msg/s offered for {args.seconds:.0f}s ({len(lat)} messages): "
          f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {lat[-1]:.1f} ms (update served → ack)")
    print(f"{'':9s}same run, from the update's arrival at the fake server (includes the wait for getUpdates): "
          f"p50 {pct(lat_pushed, 50):.1f} ms, p99 {pct(lat_pushed, 99):.1f} ms")

    if not args.skip_echo:
        with api._lock:
            api.calls.clear()
        echo = subprocess.Popen([sys.executable, str(REPO / "bench" / "echo_bot.py"), api.token, api.base_url], env=env)
        try:
            wait_polling(api, echo)
            throughput(api, 200, 30_000_000, timeout)
            echo_rates, echo_cpu, _ = measured(api, echo, args.n, args.repeat, 40_000_000, timeout)
        finally:
            stop(echo)
        print(f"echo bot throughput: {spread(echo_rates, 'messages/s')} (a bare python-telegram-bot Application, "
              f"library defaults)")
        print(f"echo bot CPU per message: {spread(echo_cpu, 'ms')}")
        print(f"ratio crophub / echo bot: throughput {statistics.median(hub_rates) / statistics.median(echo_rates):.2f}"
              f" (medians), CPU per message {statistics.median(hub_cpu) / statistics.median(echo_cpu):.2f}")
    api.stop()


if __name__ == "__main__":
    main()
