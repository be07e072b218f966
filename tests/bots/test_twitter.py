"""The Twitter channel through the real tweepy client against the fake API v2 server on loopback: mentions
polled into the store (resuming from since_id, never missing or repeating), rate limits waited out, bad
input rejected while the loop goes on, and replies posted as threads."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, Callable

import pytest
import redis
import tweepy
from rq import Queue
from sqlalchemy import select

from bots.errors import PermanentError, RateLimited, TransientError
from bots.twitter import client as tw
from bots.twitter.config import TwitterSettings
from bots.twitter.poll import MentionPoller
from bots.twitter.send import TwitterSender, weighted_length
from ingest.intake import INTAKE_QUEUE, Intake
from ingest.message import Address
from store import db
from store.models import Cursor as CursorRow
from store.models import InboundMessage
from tests.conftest import fixture
from tests.fakes.settings import quick
from tests.fakes.twitter_api import BEARER, CREDENTIAL_ENV, PREFIX, USER_KEYS, FakeTwitterAPI, credentials

ACCOUNT, USERNAME = "1481234567", "CropHubJKT"
CURSOR = f"twitter:{ACCOUNT}:since_id"
SITI = {"id": "1122334455", "name": "Siti Rahma", "username": "sitirahma_jkt"}
BUDI = {"id": "987654321", "name": "Budi Santoso", "username": "budisan"}
FIXTURE_PAGES = ["mention_with_place", "mention_with_coordinates", "mention_with_photo", "retweet", "own_tweet",
                 "reply_to_our_tweet", "no_text", "malformed_no_author"]


@pytest.fixture
def config(api: FakeTwitterAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A twitter config section (TwitterSettings keys) pointed at the fake, its credentials in the environment."""
    return {"account_id": ACCOUNT, "account_username": USERNAME, "api_base_url": api.base_url,
            **credentials(monkeypatch), "mode": "polling", "max_pages": 5, "max_rate_limit_wait": 5.0, "timeout": 5.0}


def mention_poller(config: dict[str, Any], intake: Intake) -> MentionPoller:
    """A poller for `config` that polls every 0.05 s (quick: a config file may not poll more than once a second)."""
    return MentionPoller(quick(TwitterSettings.model_validate(config), poll_interval=0.05), intake)


@pytest.fixture
def intake(sqlite_url: str, redis_conn: redis.Redis) -> Intake:
    """An intake on a migrated SQLite database and the real Redis."""
    db.configure(sqlite_url)
    return Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn))


def rows() -> list[InboundMessage]:
    with db.session() as s:
        return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


def stored_cursor() -> str | None:
    with db.session() as s:
        row = s.get(CursorRow, CURSOR)
        return row.value if row else None


def mentions(api: FakeTwitterAPI, n: int, author: dict[str, str] = SITI) -> list[str]:
    """`n` new mentions of the account, oldest first."""
    return [api.mention(ACCOUNT, author, f"@{USERNAME} genangan di RT 0{i % 9 + 1}/RW 05 Kampung Melayu nomor {i}")
            for i in range(n)]


async def until(check: Callable[[], bool], timeout: float = 8.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def running(poller: MentionPoller, body: Callable[[], Awaitable[None]]) -> None:
    """Run the poller's loop while `body` runs; then stop it, and it must end promptly without raising."""
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await body()
    finally:
        stop.set()
        await asyncio.wait_for(task, 3)


# --- the client and its base-URL adapter ----------------------------------------------------------

def test_the_adapter_routes_tweepys_requests_to_the_base_url(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    api.mention(ACCOUNT, SITI, f"@{USERNAME} sampah menumpuk di Jl. Dermaga")
    for base in (api.base_url, api.base_url + PREFIX + "/"):  # with a path prefix (and a trailing slash) too
        client = tw.make_client(TwitterSettings.model_validate({**config, "api_base_url": base}))
        response = client.get_users_mentions(ACCOUNT, max_results=5)
        assert response.json()["meta"]["result_count"] == 1
    paths = [c.path for c in api.requests("GET")]
    assert paths == [f"/2/users/{ACCOUNT}/mentions", f"{PREFIX}/2/users/{ACCOUNT}/mentions"]
    assert all(c.auth == f"Bearer {BEARER}" for c in api.requests("GET"))


def test_rewrite_keeps_path_and_query() -> None:
    adapter = tw.BaseURLAdapter("http://10.0.0.5:8080/proxy/")
    assert adapter.rewrite("https://api.twitter.com/2/tweets?ids=1,2") == "http://10.0.0.5:8080/proxy/2/tweets?ids=1,2"


def test_reset_wait_is_capped_floored_and_prefers_a_spent_daily_limit() -> None:
    class R:
        def __init__(self, **headers: str) -> None:
            self.headers = headers

    now = 1_000_000.0
    assert 30 <= tw.reset_wait(R(**{"x-rate-limit-reset": "1000030"}), 900, now) <= 33
    assert tw.reset_wait(R(**{"x-rate-limit-reset": "999000"}), 900, now) >= 1  # a reset in the past: still wait
    assert tw.reset_wait(R(**{"x-rate-limit-reset": "9999999"}), 5, now) == 5  # capped
    assert tw.reset_wait(R(), 900, now) >= 60  # no header: a default, not zero
    daily = R(**{"x-rate-limit-reset": "1000010", "x-user-limit-24hour-remaining": "0",
                 "x-user-limit-24hour-reset": "1003600"})
    assert tw.reset_wait(daily, 7200, now) >= 3600


# --- polling mentions into the store --------------------------------------------------------------

async def test_mentions_are_stored_with_their_cursor(api: FakeTwitterAPI, config: dict[str, Any], db_url: str,
                                                     redis_conn: redis.Redis) -> None:
    db.configure(db_url)
    queue = Queue(INTAKE_QUEUE, connection=redis_conn)
    for name in FIXTURE_PAGES:
        api.add_page(fixture("twitter", name), ACCOUNT)
    poller = mention_poller(config, Intake(db.factory(), queue))
    await poller.start()
    assert await poller.poll_once() == 10

    [call] = api.requests("GET")
    assert call.query["max_results"] == "100" and "since_id" not in call.query  # first run: the newest page
    assert set(call.query["expansions"].split(",")) == {"author_id", "geo.place_id", "attachments.media_keys",
                                                        "referenced_tweets.id"}
    assert {"created_at", "geo", "lang", "referenced_tweets", "attachments"} <= set(call.query["tweet.fields"].split(","))
    by_key = {r.key: r for r in rows()}
    assert {k: r.status for k, r in by_key.items()} == {
        "1990000000000000101": "received", "1990000000000000102": "received", "1990000000000000103": "received",
        "1990000000000000104": "ignored", "1990000000000000105": "ignored", "1990000000000000106": "received",
        "1990000000000000107": "rejected", "1990000000000000108": "received", "1990000000000000110": "received",
        "1990000000000000111": "rejected"}
    # What the fake served through the requested expansions and fields arrived in the messages.
    place = by_key["1990000000000000101"].message
    assert place["location"]["title"] == "Jatinegara, Indonesia" and place["text"].startswith("banjir setinggi paha")
    assert place["sender"]["username"] == "budisan" and place["sent_at"].startswith("2025-11-24T02:15:30")
    photo = by_key["1990000000000000103"].message
    assert photo["media"][0]["file_id"] == "https://pbs.twimg.com/media/GdK3xQ1bEAAq9Zr.jpg"
    assert by_key["1990000000000000102"].message["location"]["lat"] == -6.225014
    assert by_key["1990000000000000106"].message["reply_to"] == "1990000000000000105"
    assert by_key["1990000000000000107"].reason.startswith("no text")
    # Stored oldest first, so a report is processed before its follow-up.
    received = [r.key for r in rows() if r.status == "received"]
    assert received == sorted(received, key=int)
    assert stored_cursor() == "1990000000000000111"
    [job] = queue.get_jobs()
    assert sorted(job.args[0]) == sorted(r.id for r in rows() if r.status == "received")


async def test_a_replayed_page_creates_nothing_new(api: FakeTwitterAPI, config: dict[str, Any], intake: Intake,
                                                   redis_conn: redis.Redis) -> None:
    mentions(api, 4)
    poller = mention_poller(config, intake)
    await poller.poll_once()
    before = [(r.id, r.key) for r in rows()]
    assert len(before) == 4
    with db.session() as s:  # as if the cursor had been lost: the same page comes again
        s.delete(s.get(CursorRow, CURSOR))
    again = mention_poller(config, intake)
    assert await again.poll_once() == 4
    assert [(r.id, r.key) for r in rows()] == before
    assert len(Queue(INTAKE_QUEUE, connection=redis_conn).get_jobs()) == 1  # nothing new enqueued


async def test_a_restart_resumes_from_since_id(api: FakeTwitterAPI, config: dict[str, Any], intake: Intake) -> None:
    first = mentions(api, 3)
    await mention_poller(config, intake).poll_once()
    later = mentions(api, 2, BUDI)
    restarted = mention_poller(config, intake)  # a new process: only the database remembers
    await restarted.start()
    assert await restarted.poll_once() == 2
    last = api.requests("GET")[-1]
    assert last.query["since_id"] == first[-1]
    assert [r.key for r in rows()] == first + later  # each once, none missed
    assert stored_cursor() == later[-1]
    assert await restarted.poll_once() == 0 and api.requests("GET")[-1].query["since_id"] == later[-1]


async def test_the_first_run_reads_only_the_newest_page(api: FakeTwitterAPI, config: dict[str, Any],
                                                        intake: Intake) -> None:
    old = mentions(api, 130)
    poller = mention_poller(config, intake)
    assert await poller.poll_once() == 100
    assert len(api.requests("GET")) == 1
    assert {r.key for r in rows()} == set(old[30:])
    assert await poller.poll_once() == 0  # the 30 older ones are left, by design


async def test_more_than_max_pages_neither_misses_nor_repeats(api: FakeTwitterAPI, config: dict[str, Any],
                                                              intake: Intake) -> None:
    seen = mentions(api, 1)
    poller = mention_poller({**config, "max_pages": 1}, intake)
    await poller.poll_once()
    burst = mentions(api, 250)
    assert await poller.poll_once() == 100  # the newest 100; the cursor keeps the older ones open
    newer = mentions(api, 5, BUDI)  # arriving while the backlog is read
    assert await mention_poller({**config, "max_pages": 1}, intake).poll_once() == 100  # a restart mid-backlog
    poller = mention_poller({**config, "max_pages": 1}, intake)
    assert await poller.poll_once() == 50
    assert stored_cursor() == burst[-1]
    assert await poller.poll_once() == 5
    keys = [r.key for r in rows()]
    assert sorted(keys, key=int) == seen + burst + newer and len(set(keys)) == len(keys)
    queries = [c.query for c in api.requests("GET")]
    assert [(q.get("since_id"), q.get("until_id")) for q in queries] == [
        (None, None), (seen[0], None), (seen[0], burst[150]), (seen[0], burst[50]), (burst[-1], None)]


async def test_a_server_error_on_a_later_page_keeps_what_was_read(api: FakeTwitterAPI, config: dict[str, Any],
                                                                   intake: Intake) -> None:
    seen = mentions(api, 1)
    poller = mention_poller(config, intake)
    await poller.poll_once()
    burst = mentions(api, 150)
    original = poller._fetch
    calls = 0

    def second_page_fails(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            api.fail_next("GET", 500)
        return original(*args)

    poller._fetch = second_page_fails  # type: ignore[method-assign]
    with pytest.raises(tweepy.TwitterServerError):
        await poller.poll_once()
    assert {r.key for r in rows()} == set(seen + burst[50:])  # the first page is stored, then the error raised
    assert await poller.poll_once() == 50
    assert sorted((r.key for r in rows()), key=int) == seen + burst and stored_cursor() == burst[-1]


async def test_a_429_is_waited_out_without_a_hot_loop(api: FakeTwitterAPI, config: dict[str, Any], intake: Intake,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    ids = mentions(api, 1)
    poller = mention_poller(config, intake)
    await poller.poll_once()
    more = mentions(api, 3)
    api.fail_next("GET", 429, reset_in=1.2)

    async def body() -> None:
        await until(lambda: len(rows()) == 4)

    await running(poller, body)
    calls = api.requests("GET")[1:]
    assert [c.status for c in calls][:2] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9  # waited for x-rate-limit-reset, not poll_interval (0.05 s)
    assert len(calls) <= 3  # no hot loop
    assert calls[1].query["since_id"] == ids[0]
    assert [r.key for r in rows()] == ids + more
    assert any("rate limited (429)" in r.getMessage() for r in caplog.records)


async def test_a_spent_window_waits_for_its_reset(api: FakeTwitterAPI, config: dict[str, Any],
                                                  intake: Intake) -> None:
    api.set_window("mentions", remaining=1, reset_in=1.0)  # this request is the window's last
    poller = mention_poller(config, intake)
    later: list[str] = []

    async def body() -> None:
        await until(lambda: len(api.requests("GET")) == 1)
        later.extend(mentions(api, 2))
        await until(lambda: len(rows()) == 2)

    await running(poller, body)
    calls = api.requests("GET")
    assert all(c.status == 200 for c in calls)  # never asked while the window was spent: no 429
    assert calls[1].at - calls[0].at >= 0.9 and len(calls) <= 3  # waited for x-rate-limit-reset
    assert [r.key for r in rows()] == later


async def test_malformed_json_is_rejected_and_the_loop_goes_on(api: FakeTwitterAPI, config: dict[str, Any],
                                                               intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    seen = mentions(api, 1)
    poller = mention_poller(config, intake)
    await poller.poll_once()
    more = mentions(api, 2)
    api.garble_next("GET")

    async def body() -> None:
        await until(lambda: sum(r.status == "received" for r in rows()) == 3)

    await running(poller, body)
    [bad] = [r for r in rows() if r.status == "rejected"]
    assert bad.reason.startswith("response is not JSON") and bad.raw["payload"].startswith('{"data": [{"id"')
    assert [r.key for r in rows() if r.status == "received"] == seen + more  # nothing lost
    assert [c.query.get("since_id") for c in api.requests("GET")[1:3]] == [seen[0], seen[0]]  # the cursor stayed
    assert any(r.levelno == logging.WARNING and "rejected" in r.getMessage() and "not JSON" in r.getMessage()
               for r in caplog.records)


async def test_a_tweet_without_text_is_rejected_and_the_others_stored(
        api: FakeTwitterAPI, config: dict[str, Any], intake: Intake, caplog: pytest.LogCaptureFixture) -> None:
    api.add_page(fixture("twitter", "no_text"), ACCOUNT)
    api.add_page(fixture("twitter", "malformed_no_author"), ACCOUNT)
    after = mentions(api, 1, BUDI)
    poller = mention_poller(config, intake)

    async def body() -> None:
        await until(lambda: len(rows()) == 5)

    await running(poller, body)
    status = {r.key: (r.status, r.reason) for r in rows()}
    assert status["1990000000000000107"][0] == "rejected" and status["1990000000000000107"][1].startswith("no text")
    assert status["1990000000000000111"] == ("rejected", "tweet has no author_id")
    assert status["1990000000000000108"][0] == status["1990000000000000110"][0] == status[after[0]][0] == "received"
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("1990000000000000107" in m and "no text" in m for m in messages)
    assert stored_cursor() == after[0]


async def test_the_loop_outlives_a_server_error(api: FakeTwitterAPI, config: dict[str, Any], intake: Intake) -> None:
    api.fail_next("GET", 503)
    ids = mentions(api, 2)

    async def body() -> None:
        await until(lambda: len(rows()) == 2)

    await running(mention_poller(config, intake), body)
    assert [c.status for c in api.requests("GET")][:2] == [503, 200]
    assert [r.key for r in rows()] == ids


# --- the filtered stream --------------------------------------------------------------------------

async def test_stream_mode_catches_up_then_stores_streamed_tweets(api: FakeTwitterAPI, config: dict[str, Any],
                                                                  intake: Intake) -> None:
    before = mentions(api, 2)
    poller = mention_poller({**config, "mode": "stream"}, intake)
    photo = fixture("twitter", "mention_with_photo")
    tweet = {**photo["data"][0], "id": "1999000000000000001"}  # newer than anything polled

    async def body() -> None:
        await until(lambda: len(rows()) == 2)  # the catch-up poll
        await until(lambda: bool(api.requests("GET", "/search/stream")))
        api.push_stream({"data": tweet, "includes": photo["includes"],
                         "matching_rules": [{"id": api.rules[0]["id"], "tag": "crophub mentions"}]})
        api.push_stream(b'{"data": {"id": "19900')
        await until(lambda: len(rows()) == 4)

    await running(poller, body)
    assert api.rules and api.rules[0]["value"] == f"@{USERNAME}"
    status = {r.key: r.status for r in rows()}
    assert [k for k, s in status.items() if s == "received"] == before + [tweet["id"]]
    assert list(status.values()).count("rejected") == 1
    assert rows()[2].message["media"][0]["file_id"].startswith("https://pbs.twimg.com/")
    assert stored_cursor() == tweet["id"]  # a switch back to polling resumes after the streamed tweet
    stream_call = api.requests("GET", "/search/stream")[0]
    assert "attachments.media_keys" in stream_call.query["expansions"] and stream_call.auth == f"Bearer {BEARER}"


# --- replies --------------------------------------------------------------------------------------

def citizen(reply_to: str = "1990000000000000102") -> Address:
    return Address(channel="twitter", chat_id=SITI["id"], bot=ACCOUNT, reply_to=reply_to)


LONG = ("Laporan Anda JKT-2025-000117 (genangan air di Jl. Pahlawan Revolusi, Kel. Pondok Bambu, Kec. Duren Sawit) "
        "sudah diteruskan ke petugas Dinas Sumber Daya Air. ") * 4 + "Balas tweet ini bila air sudah surut. Terima kasih."


async def test_a_long_reply_is_a_thread_under_the_citizens_tweet(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    sender = TwitterSender(config)
    last = await sender.send(citizen(), LONG, {"buttons": [[{"label": "Ya", "value": "1"}]], "photo": "AgAC-tg-id"})
    posted = api.posted
    assert len(posted) == 3 and last == posted[-1]["id"]
    assert [p["text"][-5:] for p in posted] == ["(1/3)", "(2/3)", "(3/3)"]
    assert all(weighted_length(p["text"]) <= 280 for p in posted)
    assert [p["in_reply_to_tweet_id"] for p in posted] == ["1990000000000000102", posted[0]["id"], posted[1]["id"]]
    assert " ".join(p["text"][:-6].strip() for p in posted).split() == LONG.split()  # nothing lost at the breaks
    assert all(c.auth.startswith("OAuth ") for c in api.requests("POST"))


async def test_a_short_reply_is_one_tweet_without_a_marker(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    tweet_id = await TwitterSender(config).send(citizen(), "Terima kasih, laporan Anda kami terima.")
    [p] = api.posted
    assert p["id"] == tweet_id and p["text"] == "Terima kasih, laporan Anda kami terima."
    assert p["in_reply_to_tweet_id"] == "1990000000000000102"


async def test_a_retry_after_a_failed_part_does_not_post_the_earlier_parts_again(
        api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    sender = TwitterSender(config)
    original = sender._post
    attempts = 0

    def second_part_fails(text: str, in_reply_to: str) -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            api.fail_next("POST", 503)
        return original(text, in_reply_to)

    sender._post = second_part_fails  # type: ignore[method-assign]
    with pytest.raises(TransientError):
        await sender.send(citizen(), LONG)
    assert len(api.posted) == 1
    last = await sender.send(citizen(), LONG)  # the outbox's retry
    assert [p["text"][-5:] for p in api.posted] == ["(1/3)", "(2/3)", "(3/3)"]
    assert api.posted[1]["in_reply_to_tweet_id"] == api.posted[0]["id"] and last == api.posted[2]["id"]


async def test_a_429_on_send_is_rate_limited_until_the_reset(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    api.fail_next("POST", 429, reset_in=3)
    with pytest.raises(RateLimited) as caught:
        await TwitterSender(config).send(citizen(), "Petugas sedang menuju lokasi.")
    assert 1.5 <= caught.value.retry_after <= 5
    assert api.posted == []


@pytest.mark.parametrize("status, error", [(403, PermanentError), (401, PermanentError), (400, PermanentError),
                                           (500, TransientError), (503, TransientError)])
async def test_send_errors_are_mapped(api: FakeTwitterAPI, config: dict[str, Any], status: int,
                                      error: type[Exception]) -> None:
    api.fail_next("POST", status)
    with pytest.raises(error):
        await TwitterSender(config).send(citizen(), "Petugas sedang menuju lokasi.")


async def test_a_reply_already_posted_counts_as_sent_not_twice(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    # E.g. a retry, in another worker, of a send whose answer was lost: Twitter refuses the duplicate,
    # and the citizen has the reply already.
    await TwitterSender(config).send(citizen(), "Tiket JKT-2025-000117 sudah selesai.")
    await TwitterSender(config).send(citizen(), "Tiket JKT-2025-000117 sudah selesai.")  # no memory of the first
    assert len(api.posted) == 1 and len(api.requests("POST", "/2/tweets")) == 2


async def test_an_unreadable_answer_to_a_post_is_not_posted_again(api: FakeTwitterAPI, config: dict[str, Any]) -> None:
    api.garble_next("POST")  # a 200 whose body is cut off: the tweet is up, its id unknown
    await TwitterSender(config).send(citizen(), "Tiket JKT-2025-000117 sudah selesai.")
    assert len(api.requests("POST", "/2/tweets")) == 1


async def test_an_unreachable_server_is_transient(config: dict[str, Any]) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientError):
        await TwitterSender({**config, "api_base_url": f"http://127.0.0.1:{port}"}).send(citizen(), "Halo")


async def test_missing_user_keys_are_a_permanent_error_naming_the_env_vars(config: dict[str, Any],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CROPHUB_TWITTER_ACCESS_TOKEN", "CROPHUB_TWITTER_ACCESS_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)
    section = {k: v for k, v in config.items() if k not in ("access_token_env", "access_token_secret_env")}
    with pytest.raises(PermanentError, match="CROPHUB_TWITTER_ACCESS_TOKEN, CROPHUB_TWITTER_ACCESS_TOKEN_SECRET"):
        await TwitterSender(section).send(citizen(), "Halo")


async def test_credentials_come_from_the_env_vars_the_config_names(api: FakeTwitterAPI, config: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    section = dict(config)
    for name, value in {"bearer_token": BEARER, **USER_KEYS}.items():
        monkeypatch.delenv(CREDENTIAL_ENV[name])  # only the variables the section names hold them now
        monkeypatch.setenv(f"TEST_TW_{name.upper()}", value)
        section[f"{name}_env"] = f"TEST_TW_{name.upper()}"
    await TwitterSender(section).send(citizen(), "Laporan diterima.")
    assert len(api.posted) == 1
    client = tw.make_client(TwitterSettings.model_validate(section))
    assert client.get_users_mentions(ACCOUNT, max_results=5).status_code == 200
