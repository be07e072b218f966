"""`crophub run` as a user starts it: a real process tree with the embedded Redis and SQLite."""
from __future__ import annotations

import http.cookiejar
import json
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

from tests.conftest import fixture
from tests.fakes.telegram_api import FakeBotAPI

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    """A `crophub run` subprocess with its stderr collected."""

    def __init__(self, tmp: Path, config: dict, env: dict[str, str]) -> None:
        (tmp / "config.yaml").write_text(yaml.safe_dump(config))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CROPHUB_")}
        full_env.update(env, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "run"], cwd=tmp, env=full_env,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, what: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if what():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError("timed out; log:\n" + "".join(self.lines))

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        return self.proc.wait(60)


@pytest.fixture
def run_hub(tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    hubs: list[Hub] = []

    def start(config: dict, env: dict[str, str] | None = None) -> Hub:
        hub = Hub(tmp_path, config, env or {})
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        if hub.proc.poll() is None:
            hub.proc.kill()


def healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return json.loads(resp.read())


def test_run_starts_on_embedded_defaults_with_no_token_and_stops_cleanly(
    run_hub: Callable[..., Hub], tmp_path: Path
) -> None:
    port = free_port()
    hub = run_hub({"web": {"port": port}})
    hub.wait_for(lambda: hub.logged("running 3 process(es)"))
    off = [line for line in hub.lines if "telegram: channel off" in line]
    assert len(off) == 1 and "export CROPHUB_TELEGRAM_TOKEN=" in off[0]
    assert hub.logged("twitter: channel off: set twitter.account_id") and hub.logged("email: channel off: set email.address")
    hub.wait_for(lambda: _answers(port))
    assert healthz(port) == {"ok": True, "database": True, "redis": True}
    assert hub.logged("waze: feed off: set waze.feed_url")
    # A newcomer has something to open: the public map and statistics, and the Open311 services.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert resp.status == 200 and "Laporan warga" in resp.read().decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/open311/v2/services.json", timeout=5) as resp:
        assert any(s["service_code"] == "flood" for s in json.loads(resp.read()))
    # ... and a chat to report in, answered by the hub's own workers.
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    assert browser.open(f"http://127.0.0.1:{port}/chat", timeout=5).status == 200
    post = urllib.request.Request(f"http://127.0.0.1:{port}/chat/messages", method="POST",
                                  headers={"Content-Type": "application/json"},
                                  data=json.dumps({"id": "run-test-1", "text": "banjir 40 cm di jl jatinegara barat",
                                                   "location": {"lat": -6.2245, "lon": 106.866}}).encode())
    assert browser.open(post, timeout=5).status == 202

    def answered() -> bool:
        with browser.open(f"http://127.0.0.1:{port}/chat/messages", timeout=5) as resp:
            return any(m["from"] == "hub" and "JKT-" in m["text"] for m in json.loads(resp.read())["messages"])

    hub.wait_for(answered)
    assert (tmp_path / "var" / "crophub.db").exists() and (tmp_path / "var" / "redis" / "redis.sock").exists()
    assert hub.stop() == 0
    assert hub.logged("all children stopped") and hub.logged("embedded Redis: stopped")
    assert not (tmp_path / "var" / "redis" / "redis.sock").exists()
    assert not any("Traceback" in line for line in hub.lines), "".join(hub.lines)


def test_run_with_a_token_chats_through_the_fake_bot_api(
    run_hub: Callable[..., Hub], fake_api: FakeBotAPI
) -> None:
    config = {"web": {"enabled": False}, "telegram": {"api_base_url": fake_api.base_url,
                                                      "file_base_url": fake_api.file_base_url, "poll_timeout": 1}}
    hub = run_hub(config, {"CROPHUB_TELEGRAM_TOKEN": fake_api.token})
    fake_api.push(fixture("telegram", "text_message"))
    hub.wait_for(lambda: len(fake_api.sent) == 1)
    assert "JKT-" in fake_api.sent[0]["text"] and fake_api.sent[0]["chat_id"] == 52710031
    assert not hub.logged("telegram: channel off")
    assert hub.stop() == 0


def _answers(port: int) -> bool:
    try:
        healthz(port)
        return True
    except OSError:
        return False
