"""The outbox under upstream faults: an attempt is one real API call spaced by the retry intervals, however
many jobs visit the chat; a 429 pauses the whole channel; the channel's pace is shared; a reply another worker
has taken is not sent twice; replies are cut to what the channel accepts."""
from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from sqlalchemy import select

from router import context, replies
from router.context import RouterConfig
from router.pace import Rate
from store import db
from store.models import Outbox, utcnow
from tests.fakes.telegram_api import FakeBotAPI

pytestmark = pytest.mark.usefixtures("hub")
BAD_GATEWAY = {"ok": False, "error_code": 502, "description": "Bad Gateway"}


def store_replies(*texts_by_chat: tuple[str, str]) -> list[int]:
    """Store replies (chat id, text) as the pipeline would; → their outbox ids."""
    from ingest.message import Address

    rows = [replies.reply(Address(channel="telegram", chat_id=chat), text, f"test:{i}")
            for i, (chat, text) in enumerate(texts_by_chat)]
    with db.session() as s:
        return replies.store(s, rows)


def outbox() -> list[Outbox]:
    with db.session() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def visit(ids: list[int]) -> None:
    """One send job's visit (RQ would retry a job that raises; the test is the one retrying)."""
    try:
        replies.send_outbox(ids)
    except RuntimeError:
        pass


def test_a_502_burst_spends_one_attempt_per_interval_and_recovery_delivers_in_order(
    fake_api: FakeBotAPI, redis_conn: redis.Redis
) -> None:
    context.configure(RouterConfig(retry_intervals=[1, 2, 30]), redis_conn)
    ids = store_replies(("42", "pertama"), ("42", "kedua"), ("42", "ketiga"))
    fake_api.fail_next("sendMessage", 502, BAD_GATEWAY, times=2)
    calls: list[float] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(fake_api.sent) < 3:
        before = fake_api.calls.count("sendMessage")
        visit(ids)  # batch jobs, lock-wait retries and RQ retries all visit the chat, many times a second
        calls += [time.monotonic()] * (fake_api.calls.count("sendMessage") - before)
        time.sleep(0.05)
    assert [m["text"] for m in fake_api.sent] == ["pertama", "kedua", "ketiga"]
    rows = outbox()
    assert [r.status for r in rows] == ["sent"] * 3 and rows[0].attempts == 3  # two 502s, then the real send
    assert calls[1] - calls[0] >= 0.9 and calls[2] - calls[1] >= 1.9  # spaced by the intervals, no more calls
    assert fake_api.calls.count("sendMessage") == 5


def test_visits_before_the_next_try_is_due_change_nothing(fake_api: FakeBotAPI, redis_conn: redis.Redis) -> None:
    context.configure(RouterConfig(retry_intervals=[30, 60]), redis_conn)
    ids = store_replies(("42", "halo"))
    fake_api.fail_next("sendMessage", 502, BAD_GATEWAY, times=10)
    for _ in range(20):
        visit(ids)
    row = outbox()[0]
    assert row.status == "pending" and row.attempts == 1 and fake_api.calls.count("sendMessage") == 1
    assert row.not_before is not None and 20 < (row.not_before - utcnow()).total_seconds() <= 30  # retry_intervals[0]
    assert "Bad Gateway" in (row.last_error or "")


def test_a_429_in_one_chat_pauses_every_chat_of_the_channel(fake_api: FakeBotAPI, redis_conn: redis.Redis) -> None:
    ids = store_replies(("1", "a"), ("2", "b"), ("3", "c"))
    fake_api.fail_next("sendMessage", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                            "parameters": {"retry_after": 1}})
    import threading

    start = time.perf_counter()
    first = threading.Thread(target=replies.send_outbox, args=(ids[:1],))
    first.start()  # chat 1 draws the 429 and waits it out
    while not redis_conn.exists("crophub:pause:telegram"):  # its answer is back: the channel is paused
        time.sleep(0.01)
    replies.send_outbox(ids[1:])  # another job, for other chats, meanwhile
    first.join()
    assert sorted(m["text"] for m in fake_api.sent) == ["a", "b", "c"]
    assert all(m["at"] - start >= 0.95 for m in fake_api.sent)  # nobody sent while Telegram said wait
    assert [r.attempts for r in outbox()] == [1, 1, 1]


def test_the_channel_pace_is_shared_by_all_chats(fake_api: FakeBotAPI, redis_conn: redis.Redis) -> None:
    context.configure(RouterConfig(retry_intervals=[1, 2], send_rates={"telegram": Rate(per_second=5)}), redis_conn)
    ids = store_replies(*[(str(100 + i), f"m{i}") for i in range(15)])
    replies.send_outbox(ids[:8])  # two jobs, as two workers would run them: one pace for both
    replies.send_outbox(ids[8:])
    times = sorted(m["at"] for m in fake_api.sent)
    assert len(times) == 15
    assert times[-1] - times[0] >= 1.8  # a burst of 5, then 10 more at 5/s


def test_a_group_chat_gets_its_own_slower_pace(fake_api: FakeBotAPI, redis_conn: redis.Redis) -> None:
    context.configure(RouterConfig(send_rates={"telegram": Rate(per_second=30, group_per_minute=60)}), redis_conn)
    ids = store_replies(("-100200", "kartu 1"), ("-100200", "kartu 2"), ("-100200", "kartu 3"), ("7", "x"))
    replies.send_outbox(ids)
    group = sorted(m["at"] for m in fake_api.sent if str(m["chat_id"]) == "-100200")
    assert len(group) == 3 and group[2] - group[0] >= 1.9  # one a second into the group
    private = [m["at"] for m in fake_api.sent if str(m["chat_id"]) == "7"]
    assert private and private[0] < group[1]  # the private chat did not wait for the group


def test_a_reply_in_flight_is_not_sent_again_when_its_chat_lock_is_lost(redis_conn: redis.Redis) -> None:
    import asyncio

    from bots import registry

    ids = store_replies(("42", "satu"))
    sent: list[str] = []

    class SlowSender:
        """While the first send is in flight, Redis restarts (the chat's lock is gone) and another worker visits."""

        async def send(self, address: Any, text: str, extras: Any = None) -> str:
            sent.append(text)
            if len(sent) == 1:
                for key in redis_conn.scan_iter("crophub:chat-lock:*"):
                    redis_conn.delete(key)
                chats = {"telegram::42": max(ids)}
                await asyncio.to_thread(lambda: asyncio.run(replies._deliver(chats)))
            return str(len(sent))

    registry._senders["telegram"] = SlowSender()  # type: ignore[assignment]
    visit(ids)
    assert sent == ["satu"]  # the other worker found it taken: sent once
    assert [r.status for r in outbox()] == ["sent"]


def test_a_sent_reply_is_recorded_and_the_job_ends_well_when_the_chat_lock_cannot_be_freed(
    fake_api: FakeBotAPI, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.commands.core import Script

    ids = store_replies(("42", "satu"))

    def redis_died(*_args: Any, **_kwargs: Any) -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(Script, "__call__", redis_died)  # the lock release (and the pace) fail, as Redis dies
    assert replies.send_outbox(ids) == {"sent": 1}  # the job does not fail: RQ would run it again
    assert [r.status for r in outbox()] == ["sent"]
    monkeypatch.undo()
    redis_conn.flushdb()  # the lock is gone with Redis; the reply is on record all the same
    replies.send_outbox(ids)
    assert len(fake_api.sent) == 1


def test_a_reply_longer_than_telegram_takes_is_cut(fake_api: FakeBotAPI, redis_conn: redis.Redis) -> None:
    ids = store_replies(("42", "Tiket JKT-2026-" + "9" * 5000 + " tidak ditemukan"))
    replies.send_outbox(ids)
    assert len(fake_api.sent) == 1 and len(fake_api.sent[0]["text"]) <= 4096
    assert fake_api.sent[0]["text"].endswith("…")


def test_an_outcome_is_stored_once_the_database_answers_again(
    fake_api: FakeBotAPI, redis_conn: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from store import ops

    ids = store_replies(("42", "satu"))
    plain, refusals = ops.mark_outboxes, []

    def database_restarting(session: Any, changes: list[dict[str, Any]]) -> None:
        if len(refusals) < 2:  # the database goes away right after the API call, and is back a moment later
            refusals.append(1)
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection unexpectedly"))
        plain(session, changes)

    monkeypatch.setattr(replies, "RECORD_WAITS", (0.05, 0.05, 0.05))
    monkeypatch.setattr(ops, "mark_outboxes", database_restarting)
    assert replies.send_outbox(ids) == {"sent": 1}
    assert [r.status for r in outbox()] == ["sent"] and len(fake_api.sent) == 1
