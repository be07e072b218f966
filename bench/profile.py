"""Where the hub's CPU goes under bench/intake.py's load: py-spy samples every crophub process while throughput runs
repeat, and prints the costs, largest first.

Each sample is a Python stack of a thread holding the GIL (`py-spy record --gil`), i.e. Python work on the CPU; time in
C code that lets the GIL go (SQLite's own work, waits on sockets) is not in it. A sample is put under the first cost in
COSTS whose frame is on its stack; the share of a cost is its part of the samples of all crophub processes, and its
milliseconds per message that share of the sampled processes' CPU per message, measured in the same runs.

    .venv/bin/pip install -e '.[bench]'     # py-spy; as root, or with ptrace allowed (kernel.yama.ptrace_scope 0)
    .venv/bin/python bench/profile.py --database sqlite --seconds 20
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench import cpu, faultlib, intake  # noqa: E402
from tests.fakes.telegram_api import FakeBotAPI  # noqa: E402

# (cost, a frame that marks it: "function (file" as py-spy prints it), most specific first.
COSTS: list[tuple[str, str]] = [
    ("listener: getUpdates answer parsed into PTB objects", "parse_update (bots/telegram/parse.py"),
    ("listener: batch stored (intake rows)", "Intake.accept (ingest/intake.py"),
    ("listener: getUpdates call", "Poller.poll_once (bots/telegram/poll.py"),
    ("send: sendMessage answer parsed into a PTB Message", "Message.de_json (telegram/_message.py"),
    ("send: sendMessage request (PTB and its HTTP client)", "TelegramSender.send (bots/telegram/send.py"),
    ("send: pace and 429 pause check (Redis script)", "Pace.admit (router/pace.py"),
    ("send: outcomes stored (outbox rows marked)", "_Recorder._write (router/replies.py"),
    ("send: chat locks and rows claimed", "_deliver (router/replies.py"),
    ("pipeline: classifier (TF-IDF features + linear model)", "Classifier.predict (nlp/classify.py"),
    ("pipeline: PostgreSQL query conversion (psycopg)", "_query2pg"),
    ("pipeline: reports filed (tickets, reporters, events)", "file_reports (router/filing.py"),
    ("pipeline: officers' cards", "dispatch_open (router/crop.py"),
    ("pipeline: replies stored (outbox rows)", "commit (router/unit.py"),
    ("pipeline: send jobs and SLA checks enqueued", "after_commit (router/unit.py"),
    ("pipeline: messages claimed and read back", "claim_inbound (store/ops.py"),
    ("pipeline: messages validated (pydantic)", "BaseModel.model_validate (pydantic/main.py"),
    ("pipeline: citizens upserted", "upsert_citizens (store/ops.py"),
    ("pipeline: language and the rest", "_process (router/pipeline.py"),
    ("RQ: job fetch, bookkeeping, heartbeats", "BaseWorker.work (rq/worker/base.py"),
    ("RQ: scheduler thread", "RQScheduler"),
    ("event loop: socket callbacks, task switches (mostly the sends)", "BaseEventLoop._run_once"),
]


def label(stack: str) -> str:
    """The cost a sampled stack belongs to."""
    for name, frame in COSTS:
        if frame in stack:
            return name
    return "other"


def record(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `pid` (GIL holders only) for `seconds` into `out` (collapsed stacks)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("profile: py-spy is not installed (.venv/bin/pip install -e '.[bench]')")
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
                             "--gil", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def samples(path: Path) -> Counter[str]:
    """Samples by cost in one py-spy raw output."""
    found: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack.strip() and count.isdigit():
            found[label(re.sub(r":\d+\)", ")", stack))] += int(count)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20, help="sampling time (default 20)")
    parser.add_argument("-n", type=int, default=2000, help="updates per throughput run while sampling (default 2000)")
    parser.add_argument("--top", type=int, default=10, help="costs printed (default 10)")
    args = parser.parse_args()

    setup = intake.Setup(args.database, args.workers)
    api = FakeBotAPI().start()
    stack = faultlib.Stack()
    costs: Counter[str] = Counter()
    by_process: Counter[str] = Counter()
    per_message: list[float] = []  # the whole tree's CPU per message, and the sampled processes' part of it
    sampled_ms: list[float] = []
    try:
        with tempfile.TemporaryDirectory(prefix="crophub-profile-") as name, \
                intake.running(setup, api, stack, Path(name)) as started:
            timeout = max(120.0, args.n / 20)
            intake.throughput(api, 200, 1_000_000, timeout)  # warm-up
            hub = [p for p in intake.snapshot(started.roots) if p.name.startswith("hub.cli") and p.name != "hub.cli run"]
            spies = {p: record(p.pid, args.seconds, Path(name) / f"{p.pid}.txt") for p in hub}
            done = threading.Event()
            threading.Timer(args.seconds, done.set).start()
            k = 0
            while not done.is_set():  # throughput runs, each measured, for as long as py-spy samples
                before = intake.snapshot(started.roots)
                intake.throughput(api, args.n, 10_000_000 * (k + 2), timeout)
                after = intake.snapshot(started.roots)
                per_message.append((cpu.total(after) - cpu.total(before)) * 1000 / args.n)
                spent = cpu.by_name(before, after)
                sampled_ms.append(sum(spent.get(p.name, 0.0) for p in {p.name: p for p in hub}.values()) * 1000 / args.n)
                k += 1
            for proc, spy in spies.items():
                _, err = spy.communicate(timeout=60)
                out = Path(name) / f"{proc.pid}.txt"
                if not out.exists():
                    raise SystemExit(f"profile: py-spy got nothing from {proc.name} ({proc.pid}): {err.decode()[-500:]}")
                found = samples(out)
                costs.update(found)
                by_process[proc.name] += sum(found.values())
    finally:
        stack.close()
        api.stop()

    whole = sum(costs.values()) or 1
    ms = statistics.median(sampled_ms)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {setup}; {len(per_message)} throughput runs of "
          f"{args.n} updates while sampling {args.seconds:.0f} s; CPU per message {intake.spread(per_message, ' ms')} "
          f"(min / median / max; whole tree), of which the sampled processes {ms:.2f} ms")
    print("samples by process: " + ", ".join(f"{n} {100 * c / whole:.0f}%" for n, c in by_process.most_common()))
    print(f"{'cost':58s} {'share':>6s} {'ms/msg':>7s}")
    for rank, (cost, count) in enumerate(costs.most_common(args.top), 1):
        print(f"{rank:2d}. {cost:54s} {100 * count / whole:5.1f}% {ms * count / whole:7.3f}")
    rest = whole - sum(c for _, c in costs.most_common(args.top))
    print(f"    {'the rest':54s} {100 * rest / whole:5.1f}% {ms * rest / whole:7.3f}")


if __name__ == "__main__":
    main()
