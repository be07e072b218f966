"""`crophub listen` polls each channel from one process at a time: a Redis lease per channel, renewed while it
polls; another process stands by and takes over when the holder stops, loses the lease or its listener ends."""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis

from hub.embedded_redis import EmbeddedRedis
from hub.listen_cli import RENEWS_PER_LEASE, run_leased
from ingest.lease import Lease

TTL = 0.45  # seconds: short leases keep each test within a few seconds
EVERY = TTL / RENEWS_PER_LEASE
SLACK = 1.0  # seconds a wait may take beyond what it is about, on a loaded machine


class Board:
    """How many fake listeners run at once, the most ever, and who ran in which order."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.runs: list[str] = []


class Fake:
    """A listener that runs until told to stop; `crashes` times it fails at once instead."""

    def __init__(self, board: Board, label: str, crashes: int = 0) -> None:
        self.board = board
        self.label = label
        self.crashes = crashes

    async def run(self, stop: asyncio.Event) -> None:
        self.board.runs.append(self.label)
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("the channel's API went away")
        self.board.running += 1
        self.board.most = max(self.board.most, self.board.running)
        try:
            await stop.wait()
        finally:
            self.board.running -= 1


@pytest.fixture
def channel(redis_conn: redis.Redis) -> Iterator[str]:
    """A channel name of this test's own (its lease key is unique), its key removed afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    redis_conn.delete(f"crophub:listen:{name}")


async def until(check: Callable[[], bool], within: float) -> None:
    """Wait until `check()` holds; fail if it does not within `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.01)


def messages(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage() and r.levelno == level]


def test_a_lease_is_held_renewed_and_released_by_its_own_token_only(redis_conn: redis.Redis, channel: str) -> None:
    key = f"crophub:listen:{channel}"
    mine, theirs = Lease(redis_conn, key, seconds=0.5), Lease(redis_conn, key, seconds=0.5)
    assert mine.token.startswith(f"{socket.gethostname()}:{os.getpid()}:") and mine.token != theirs.token
    assert mine.acquire() and 0 < redis_conn.pttl(key) <= 500
    assert not theirs.acquire() and theirs.holder() == mine.token and mine.holder() == mine.token
    assert mine.acquire()  # already ours
    assert not theirs.renew()
    theirs.release()
    assert redis_conn.get(key) == mine.token.encode()
    redis_conn.pexpire(key, 50)
    assert mine.renew() and redis_conn.pttl(key) > 100  # renewed for its whole time again
    mine.release()
    assert redis_conn.exists(key) == 0 and mine.holder() is None
    assert not mine.renew() and redis_conn.exists(key) == 0  # a lost lease is not renewed back into being
    assert theirs.acquire() and not mine.acquire() and mine.holder() == theirs.token
    mine.release()
    assert theirs.holder() == theirs.token


async def test_one_process_polls_the_other_stands_by_and_takes_over_when_it_stops(
    redis_conn: redis.Redis, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    board = Board()
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(run_leased(redis_conn, channel, lambda: Fake(board, "first"), first_stop, TTL))
    await until(lambda: board.running == 1, SLACK)
    second = asyncio.create_task(run_leased(redis_conn, channel, lambda: Fake(board, "second"), second_stop, TTL))
    await asyncio.sleep(3 * EVERY)  # several renewals, and several tries of the standby
    assert board.runs == ["first"] and board.most == 1
    standby = messages(caplog, "standing by")
    assert len(standby) == 1, standby  # once per standby period, not once per try
    holder = redis_conn.get(f"crophub:listen:{channel}").decode()
    assert f"another listen process ({holder}) polls it" in standby[0]

    first_stop.set()
    await first
    # Released on the way out: the standby takes over at its next try, well before the lease would run out.
    await until(lambda: board.runs == ["first", "second"] and board.running == 1, EVERY + 0.15)
    assert board.most == 1 and len(messages(caplog, "this process polls it")) == 2
    assert redis_conn.get(f"crophub:listen:{channel}").decode() != holder
    second_stop.set()
    await second
    assert board.running == 0 and redis_conn.exists(f"crophub:listen:{channel}") == 0


async def test_a_lease_taken_over_behind_its_back_stops_the_listener_at_the_next_renewal(
    redis_conn: redis.Redis, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    board, stop = Board(), asyncio.Event()
    key = f"crophub:listen:{channel}"
    task = asyncio.create_task(run_leased(redis_conn, channel, lambda: Fake(board, "me"), stop, TTL))
    await until(lambda: board.running == 1, SLACK)
    # As if the lease had run out (a long pause of this process) and another process had taken it.
    redis_conn.set(key, "elsewhere:4242:beef", px=10_000)
    await until(lambda: board.running == 0, EVERY + 0.15)
    assert messages(caplog, "no longer this process's", logging.WARNING)
    await until(lambda: bool(messages(caplog, "another listen process (elsewhere:4242:beef) polls it")), SLACK)
    assert redis_conn.get(key) == b"elsewhere:4242:beef"  # the new holder's lease is left alone

    redis_conn.delete(key)  # the other process stops: this one polls again
    await until(lambda: board.running == 1 and board.runs == ["me", "me"], EVERY + SLACK)
    stop.set()
    await task
    assert board.running == 0 and redis_conn.exists(key) == 0


async def test_a_listener_that_ends_by_itself_gives_the_channel_up_and_is_restarted(
    redis_conn: redis.Redis, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    board, stop = Board(), asyncio.Event()
    key = f"crophub:listen:{channel}"
    listener = Fake(board, "me", crashes=1)
    task = asyncio.create_task(run_leased(redis_conn, channel, lambda: listener, stop, TTL))
    await until(lambda: board.runs == ["me"], SLACK)
    # Not renewed on behalf of a listener that is gone: released, so that another process may poll meanwhile.
    await until(lambda: redis_conn.exists(key) == 0, EVERY)
    await until(lambda: board.running == 1 and board.runs == ["me", "me"], EVERY + SLACK)
    [ended] = messages(caplog, "ended by itself", logging.ERROR)
    assert "RuntimeError: the channel's API went away" in ended
    stop.set()
    await task
    assert redis_conn.exists(key) == 0


async def test_a_redis_blip_shorter_than_the_lease_does_not_stop_polling_a_longer_outage_does(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("lease")), appendonly=False)
    conn = redis.Redis.from_url(server.start(), socket_timeout=EVERY, socket_connect_timeout=EVERY)
    board, stop = Board(), asyncio.Event()
    task = asyncio.create_task(run_leased(conn, "telegram", lambda: Fake(board, "me"), stop, TTL))
    try:
        await until(lambda: board.running == 1, SLACK)
        gone = time.monotonic()
        server.stop()
        await until(lambda: bool(messages(caplog, "polling on while it holds", logging.WARNING)), EVERY + SLACK)
        assert board.running == 1  # a renewal failed, and the listener still polls
        await until(lambda: board.running == 0, TTL + SLACK)
        # Not before the lease could have run out: the last renewal that took was at most one period before.
        assert time.monotonic() - gone >= TTL - EVERY - 0.05
        assert messages(caplog, "could not be renewed for", logging.WARNING)
    finally:
        stop.set()
        await task
        server.stop()
    assert board.running == 0 and board.runs == ["me"]


def test_a_lease_whose_holder_died_on_this_machine_is_taken_at_once(redis_conn: redis.Redis, channel: str) -> None:
    key = f"crophub:listen:{channel}"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead = f"{socket.gethostname()}:{gone.stdout.strip()}:deadbeef"  # a listener SIGKILLed, its lease not released
    redis_conn.set(key, dead, px=60_000)
    elsewhere = f"another-host:{gone.stdout.strip()}:deadbeef"  # the same pid on another machine may well run
    mine = Lease(redis_conn, key, seconds=5)
    assert mine.acquire() and redis_conn.get(key) == mine.token.encode() and redis_conn.pttl(key) <= 5000
    mine.release()
    redis_conn.set(key, elsewhere, px=60_000)
    assert not mine.acquire() and mine.holder() == elsewhere
    redis_conn.set(key, f"{socket.gethostname()}:1:cafe", px=60_000)  # a holder on this machine that runs (pid 1)
    assert not mine.acquire()


def test_a_listener_that_cannot_be_built_stops_listen_at_start(monkeypatch: pytest.MonkeyPatch, redis_server: str,
                                                               tmp_path: Path) -> None:
    import argparse

    from hub import listen_cli
    from hub.settings import parse

    def broken() -> Fake:
        raise ValueError("telegram: a bad setting")

    settings = parse({"database": {"url": f"sqlite:///{tmp_path / 'crophub.db'}"}, "redis": {"url": redis_server}})
    monkeypatch.setattr(listen_cli, "_listener_makers", lambda *_: [("telegram", broken)])
    def too_long(*_: object) -> None:
        raise TimeoutError("crophub listen went on with a listener it cannot build")

    # Raised before any lease is asked for (else it would be logged and retried every few seconds, forever).
    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(10)
    try:
        with pytest.raises(ValueError, match="a bad setting"):
            listen_cli.cmd_listen(settings, argparse.Namespace(channel=None))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
