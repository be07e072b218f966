"""CPU time of a process tree from /proc (Linux): what a benchmark's figure per message is steered by, since on a
shared machine wall-clock rates swing with whatever else runs and CPU seconds spent do not."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Proc:
    """One live process of the tree: its name and the CPU seconds (user + system) it and its reaped children spent."""

    pid: int
    name: str
    cpu: float


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and of its children it has waited for); None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "(comm)", which may hold spaces
    # fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / TICK


def _name(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in args if a]
    # "python -m hub.cli run" → "hub.cli run"; "redis-server ..." → "redis-server"; a forked RQ work horse keeps
    # its worker's command line.
    if len(words) > 2 and words[1] == "-m":
        # "-m hub.cli --config x.yaml worker --processes 1" → "hub.cli worker"
        rest = [w for k, w in enumerate(words[3:], 3) if not w.startswith("-") and not words[k - 1] == "--config"]
        return " ".join([words[2], *rest[:1]])
    if words and "redis" in " ".join(words):
        return "redis-server"  # the embedded one titles itself with its socket's path
    if words and words[0].startswith("postgres"):
        return "postgres"  # the server and its backends, which title themselves with their client and state
    return Path(words[0]).name if words else "?"


def tree(root: int) -> list[Proc]:
    """`root` and every live descendant, with CPU seconds so far (exited descendants count in their parent's)."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                parents[int(entry)], spent[int(entry)] = found
    members, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in members]
        members.update(children)
        frontier = children
    return [Proc(pid, _name(pid), spent[pid]) for pid in sorted(members) if pid in spent]


def total(procs: list[Proc]) -> float:
    """CPU seconds of a tree snapshot."""
    return sum(p.cpu for p in procs)


def by_name(before: list[Proc], after: list[Proc]) -> dict[str, float]:
    """CPU seconds spent between two snapshots, by process name (processes started in between count from 0)."""
    start = {p.pid: p.cpu for p in before}
    found: dict[str, float] = {}
    for p in after:
        found[p.name] = found.get(p.name, 0.0) + p.cpu - start.get(p.pid, 0.0)
    return found
