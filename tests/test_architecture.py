"""ARCHITECTURE.md's import rules, read from the source (every import, also those inside functions): who may
import whom, nothing imports hub or web, and no import cycle."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bots", "hub", "ingest", "nlp", "router", "store", "web")
# Imports run one way (ARCHITECTURE.md): a package may import its own modules and these packages.
ALLOWED = {
    "bots": {"ingest", "store"},
    "ingest": {"store"},
    "nlp": set(),
    "store": set(),
    "router": {"nlp", "store", "ingest", "bots"},
    "web": {"store", "router"},
    "hub": set(PACKAGES),
}
# Edges around the arrows that are still there (issue 18 removes them). The list may only shrink: a new
# edge fails, and so does an entry that no longer exists.
NOT_YET = {
    ("web.chat", "bots.webchat.parse"), ("web.chat", "ingest.intake"), ("web.chat", "ingest.message"),
    ("web.labels", "nlp.gazetteer"), ("web.media", "bots"), ("web.media", "bots.registry"),
    ("web.metrics", "ingest.intake"),
    # The webhook endpoints parse with their channel's parser (web.chat, web.open311) until the channel
    # registry mounts them.
    ("web.open311", "ingest.intake"), ("web.open311", "bots.open311"), ("web.open311", "bots.open311.parse"),
    ("web.open311", "nlp.gazetteer"),
    ("web.open311", "nlp.geocode"), ("web.public", "nlp.gazetteer"),
    ("web.site", "ingest.intake"), ("web.stats", "nlp.gazetteer"),
}


def modules() -> dict[str, Path]:
    """Every module of ours by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


def imports(name: str, path: Path, ours: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from router import cards`
    return {m for m in found if m in ours and m != name}


def graph() -> dict[str, set[str]]:
    ours = modules()
    return {name: imports(name, path, ours) for name, path in ours.items()}


def test_imports_run_one_way() -> None:
    edges = graph()
    around = {(a, b) for a, targets in edges.items() for b in targets
              if b.split(".")[0] != a.split(".")[0] and b.split(".")[0] not in ALLOWED[a.split(".")[0]]}
    assert around - NOT_YET == set(), "imports against ARCHITECTURE.md's arrows"
    assert NOT_YET - around == set(), "gone: take them off NOT_YET"


def test_nothing_imports_hub_or_web() -> None:
    edges = graph()
    assert {(a, b) for a, targets in edges.items() for b in targets
            if b.split(".")[0] == "hub" and not a.startswith("hub")} == set()
    assert {(a, b) for a, targets in edges.items() for b in targets
            if b.split(".")[0] == "web" and a.split(".")[0] not in ("hub", "web")} == set()


def test_no_import_cycle() -> None:
    edges = graph()
    # Depth-first search for a back edge; the path to it is the cycle.
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
