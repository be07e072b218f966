"""The Waze feed end to end: the real aiohttp poller against a local feed server serving snapshots in the
real format, real Redis + RQ, the store on SQLite and PostgreSQL. Alerts become or join tickets, repeats
change nothing, vanished alerts close their Waze-only tickets, floods fuse with citizens' flood reports,
and a malformed feed is logged while the poller goes on."""
from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Iterator

import pytest
import redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from bots.telegram.parse import bot_id_of
from bots.telegram.poll import Poller
from ingest.intake import INTAKE_QUEUE, OUTBOX_QUEUE, Batch, Intake
from ingest.message import Address, Location, Message, Sender
from ingest.waze.poll import FeedPoller
from router import cards, context, lifecycle
from router.context import RouterConfig
from store import db, ops
from store import officers as roster
from store.models import InboundMessage, Outbox, Ticket, TicketEvent, TicketReporter, WazeAlert
from tests.conftest import FIXTURES, fixture
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.waze_feed import FakeWazeFeed, feed_options

pytestmark = pytest.mark.usefixtures("hub")

FLOOD = "3f6a2c1e-8b4d-4f0a-9c7e-1d2b3a4c5e01"  # Jl. Jatinegara Barat; score 11 first, 19 in the second poll
FLOOD_FAR = "7c1d9e2f-4a3b-4c5d-8e6f-0a1b2c3d4e02"  # WEATHERHAZARD, Jl. Pahlawan Revolusi; score 6
POTHOLE = "b2e4f6a8-1c3d-4e5f-a7b9-c1d3e5f7a903"  # Jl. D.I. Panjaitan; score 15
CLOSED = "d4c3b2a1-9f8e-4d7c-b6a5-f4e3d2c1b004"  # ROAD_CLOSED_EVENT, Jl. Casablanca Raya; score 20
LATE = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a821"  # late_flood.json: Jl. Kemang Raya; score 16
DEWI = "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a34"  # hostile_alerts.json: a NUL in its street; score 16


def snapshot(name: str, minutes_later: int = 0, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A fixture snapshot, as of `minutes_later` minutes after its own time, without the alerts in `drop`."""
    data = copy.deepcopy(fixture("waze", name))
    data["endTimeMillis"] += minutes_later * 60_000
    data["alerts"] = [a for a in data.get("alerts", []) if a.get("uuid") not in drop]
    return data


def work(conn: redis.Redis) -> None:
    """Run an RQ worker until the intake and outbox queues are empty."""
    SimpleWorker([Queue(OUTBOX_QUEUE, connection=conn), Queue(INTAKE_QUEUE, connection=conn)],
                 connection=conn).work(burst=True, logging_level="WARNING")


@pytest.fixture
def feed() -> Iterator[FakeWazeFeed]:
    with FakeWazeFeed(fixture("waze", "alerts_flood_and_pothole")) as fake:
        yield fake


@pytest.fixture
async def poller(feed: FakeWazeFeed, redis_conn: redis.Redis) -> AsyncIterator[FeedPoller]:
    # A poll every 0.05 s, which the `waze:` section refuses (5 s at least): the fake feed is on loopback.
    p = FeedPoller(replace(feed_options(feed.url, misses_before_gone=2), poll_interval=0.05),
                   Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)))
    yield p
    await p.close()


async def poll(poller: FeedPoller, conn: redis.Redis) -> str:
    """One poll, then the worker until the queues are empty; → the poll's outcome."""
    outcome = await poller.poll_once()
    work(conn)
    return outcome.status


def tickets() -> dict[str, Ticket]:
    """Tickets by the Waze alert (or citizen) they were filed for."""
    with db.session() as s:
        return {(t.reply_address.get("chat_id") or str(t.id)): t for t in s.scalars(select(Ticket).order_by(Ticket.id))}


def alerts() -> dict[str, WazeAlert]:
    with db.session() as s:
        return {a.key: a for a in s.scalars(select(WazeAlert))}


def events(ticket_id: int) -> list[tuple[str, str, dict[str, Any] | None]]:
    with db.session() as s:
        return [(e.kind, e.actor, e.data) for e in ops.events_of(s, ticket_id)]


def counts() -> tuple[int, int, int, int]:
    """(inbound messages, tickets, ticket events, outbox rows)."""
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in  # type: ignore[return-value]
                     (InboundMessage, Ticket, TicketEvent, Outbox))


def citizen_report(conn: redis.Redis, key: str, text: str, lat: float, lon: float) -> None:
    """A citizen's Telegram report with a shared location, through the intake and the worker."""
    msg = Message(channel="telegram", key=key, sender=Sender(id="5550001", name="Warga"),
                  address=Address(channel="telegram", chat_id="5550001", reply_to=key), text=text,
                  location=Location(lat=lat, lon=lon), provider_message_id=key,
                  received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)


def citizen_says(conn: redis.Redis, key: str, text: str) -> None:
    """The same citizen's Telegram message of words alone, through the intake and the worker."""
    msg = Message(channel="telegram", key=key, sender=Sender(id="5550001", name="Warga"),
                  address=Address(channel="telegram", chat_id="5550001"), text=text, provider_message_id=key,
                  received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)).accept(Batch([msg]))
    work(conn)


async def test_corroborated_alerts_become_tickets_without_a_citizen(poller: FeedPoller, redis_conn: redis.Redis,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ingest.waze.poll")
    assert await poll(poller, redis_conn) == "changed"
    filed = tickets()
    # The pothole (score 15) and the closed road (20) are filed; the floods (11 and 6) wait for more drivers.
    assert set(filed) == {POTHOLE, CLOSED}
    pothole, closed = filed[POTHOLE], filed[CLOSED]
    assert (pothole.category, pothole.agency, pothole.channel, pothole.citizen_id) == ("road_damage", "binamarga",
                                                                                     "waze", None)
    assert (closed.category, closed.agency) == ("traffic", "dishub")
    assert pothole.geocode_source == "point" and pothole.kecamatan_kode == "31.75.03"  # Jatinegara
    assert "Jl. D.I. Panjaitan" in pothole.text and pothole.status == "open"  # no officer covers it yet
    assert events(pothole.id)[0][:2] == ("created", "waze")
    assert events(pothole.id)[0][2]["score"] == 15
    # Every mapped alert is tracked; the unmapped kinds are named in the log and not stored as alerts.
    tracked = alerts()
    assert set(tracked) == {FLOOD, FLOOD_FAR, POTHOLE, CLOSED}
    assert tracked[FLOOD].ticket_id is None and not tracked[FLOOD].corroborated and tracked[FLOOD].score == 11
    assert "ACCIDENT_MINOR×1" in caplog.text and "HAZARD_ON_SHOULDER_CAR_STOPPED×1" in caplog.text
    # Nobody is answered on the waze channel: it has no citizen and no sender.
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Outbox).where(Outbox.channel == "waze")) == 0
        assert not list(s.scalars(select(TicketReporter).where(TicketReporter.ticket_id == pothole.id)))
        assert ops.ticket_sources(s, pothole.id)["waze"][0]["key"] == POTHOLE


async def test_a_repeated_alert_changes_nothing(poller: FeedPoller, feed: FakeWazeFeed,
                                                redis_conn: redis.Redis) -> None:
    await poll(poller, redis_conn)
    before, seen = counts(), alerts()
    # The same snapshot: the poller asks conditionally and the server answers 304.
    assert await poll(poller, redis_conn) == "same"
    assert feed.requests[-1].headers["If-None-Match"] == feed.etag and feed.statuses()[-1] == 304
    # The same alerts in a newer snapshot (a new ETag): they are seen again, and nothing else happens.
    feed.serve(snapshot("alerts_flood_and_pothole", minutes_later=2))
    assert await poll(poller, redis_conn) == "changed"
    assert counts() == before
    after = alerts()
    assert all(after[k].version == seen[k].version and after[k].last_seen_at > seen[k].last_seen_at for k in seen)
    # A server without validators sending the same snapshot again counts once (the same bytes).
    poller.etag = poller.last_modified = None
    assert await poll(poller, redis_conn) == "same"
    assert counts() == before


async def test_an_alert_seen_again_with_more_drivers_updates_and_then_files(poller: FeedPoller, feed: FakeWazeFeed,
                                                                            redis_conn: redis.Redis) -> None:
    await poll(poller, redis_conn)
    feed.serve(snapshot("second_poll"))  # the flood now has 9 thumbs-up and reliability 9: score 19
    await poll(poller, redis_conn)
    flood = tickets()[FLOOD]
    assert (flood.category, flood.agency, flood.status) == ("flood", "dsda", "open")
    assert alerts()[FLOOD].ticket_id == flood.id and alerts()[FLOOD].version == 2
    # The closed road is unchanged in the second poll: no event on its ticket.
    assert [kind for kind, _, _ in events(tickets()[CLOSED].id)] == ["created", "unrouted"]
    # More thumbs-up on a flood already filed: recorded on its ticket, no new ticket.
    bumped = snapshot("second_poll", minutes_later=5)
    bumped["alerts"][0]["reliability"] = 10
    feed.serve(bumped)
    n_tickets = counts()[1]
    await poll(poller, redis_conn)
    assert counts()[1] == n_tickets
    kind, actor, data = events(flood.id)[-1]
    assert (kind, actor, data["score"], data["version"]) == ("waze_updated", "waze", 20, 3)


async def test_an_alert_added_within_the_same_minute_is_filed(poller: FeedPoller, feed: FakeWazeFeed,
                                                            redis_conn: redis.Redis) -> None:
    await poll(poller, redis_conn)
    # Waze republishes the minute's snapshot with a corroborated flood more: same endTimeMillis, new content.
    feed.serve({**snapshot("alerts_flood_and_pothole"), "alerts": [*snapshot("alerts_flood_and_pothole")["alerts"],
                                                                     *fixture("waze", "late_flood")["alerts"]]})
    assert await poll(poller, redis_conn) == "changed"
    late = tickets()[LATE]
    assert (late.category, late.agency, late.status) == ("flood", "dsda", "open")


async def test_hostile_alerts_are_rejected_and_the_rest_of_their_snapshot_is_filed(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis) -> None:
    hostile = snapshot("alerts_flood_and_pothole")
    hostile["alerts"] += fixture("waze", "hostile_alerts")["alerts"]  # NaN, 1e400, a 300-character uuid, a NUL
    feed.serve(json.dumps(hostile))
    assert await poll(poller, redis_conn) == "changed"
    assert set(tickets()) == {POTHOLE, CLOSED, DEWI} and tickets()[DEWI].place_text == "Jl. Dewi Sartika"
    with db.session() as s:
        reasons = s.scalars(select(InboundMessage.reason).where(InboundMessage.status == "rejected")).all()
    assert len(reasons) == 3 and all(reason.startswith("alert ") for reason in reasons)


async def test_a_vanished_alert_closes_its_waze_only_ticket(poller: FeedPoller, feed: FakeWazeFeed,
                                                            redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    with db.session() as s:  # an officer who covers the pothole: its card goes to them
        roster.add(s, {"telegram_id": "7001", "name": "Pak Bina", "role": "agency_staff", "areas": ["31.75"],
                       "agencies": ["binamarga"]})
    await poll(poller, redis_conn)
    pothole = tickets()[POTHOLE]
    assert pothole.status == "assigned"
    [card] = [m for m in fake_api.sent if str(m["chat_id"]) == "7001"]
    assert "Sumber: Waze: 1 laporan pengemudi (skor 15/25)" in card["text"]
    feed.serve(snapshot("second_poll"))  # the pothole is absent: one miss
    await poll(poller, redis_conn)
    assert alerts()[POTHOLE].status == "active" and alerts()[POTHOLE].misses == 1
    assert tickets()[POTHOLE].status == "assigned"
    feed.serve(snapshot("second_poll", minutes_later=2))  # absent again: misses_before_gone is 2
    await poll(poller, redis_conn)
    assert alerts()[POTHOLE].status == "gone"
    closed = tickets()[POTHOLE]
    assert closed.status == "closed" and closed.closed_at is not None
    kinds = [(kind, actor) for kind, actor, _ in events(closed.id)]
    assert kinds[-2:] == [("waze_gone", "waze"), ("status", "waze")]
    assert "tidak ada lagi di feed" in events(closed.id)[-1][2]["note"]
    # The officer holding its card is told; the closed road, still in the feed, stays as it was.
    assert any(str(m["chat_id"]) == "7001" and "ditutup otomatis" in m["text"] for m in fake_api.sent)
    assert tickets()[CLOSED].status == "assigned" or tickets()[CLOSED].status == "open"
    # Gone stays gone: another snapshot without it changes nothing more.
    before = counts()
    feed.serve(snapshot("second_poll", minutes_later=4))
    await poll(poller, redis_conn)
    assert counts() == before


async def test_a_flood_alert_next_to_a_citizens_flood_ticket_fuses(poller: FeedPoller, redis_conn: redis.Redis,
                                                                   fake_api: FakeBotAPI) -> None:
    # A citizen reports the flood 150 m from where Waze drivers will (flood duplicates: 500 m, 24 h).
    citizen_report(redis_conn, "tg-1", "banjir selutut di jl jatinegara barat, motor mogok semua", -6.22585, 106.86601)
    [mine] = tickets().values()
    assert mine.category == "flood" and mine.citizen_id is not None
    await poll(poller, redis_conn)
    # The uncorroborated flood alert (score 11) joins the citizen's ticket instead of waiting alone.
    assert alerts()[FLOOD].ticket_id == mine.id and FLOOD not in tickets()
    kind, actor, data = events(mine.id)[-1]
    assert (kind, actor, data["alert"], data["score"]) == ("corroborated", "waze", FLOOD, 11)
    with db.session() as s:
        sources = ops.ticket_sources(s, mine.id)
        assert sources["reporters"] == {"telegram": 1} and [a["key"] for a in sources["waze"]] == [FLOOD]
        assert cards.sources(s.get(Ticket, mine.id), "id") == \
            "1 warga (telegram) · Waze: 1 laporan pengemudi (skor 11/25)"
    # The citizen heard nothing more than their acknowledgement: corroboration is for officers.
    assert len([m for m in fake_api.sent if str(m["chat_id"]) == "5550001"]) == 1


async def test_a_citizens_report_joins_a_waze_ticket_which_then_outlives_its_alert(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis, fake_api: FakeBotAPI) -> None:
    await poll(poller, redis_conn)
    pothole = tickets()[POTHOLE]
    citizen_report(redis_conn, "tg-2", "jalan berlubang besar di jl di panjaitan, bahaya buat motor", -6.23318,
                   106.87455)
    assert pothole.public_id in fake_api.sent[-1]["text"]  # asked whether to support it (HC, issue 20)
    citizen_says(redis_conn, "tg-2-yes", "ya")
    assert {k: t.status for k, t in tickets().items()} == {POTHOLE: "open", CLOSED: "open", "5550001": "duplicate"}
    with db.session() as s:
        assert ops.ticket_sources(s, pothole.id)["reporters"] == {"telegram": 1}
    assert pothole.public_id in fake_api.sent[-1]["text"]
    for minutes in (5, 7):  # the pothole leaves the feed for good
        feed.serve(snapshot("second_poll", minutes_later=minutes))
        await poll(poller, redis_conn)
    assert alerts()[POTHOLE].status == "gone"
    # A citizen reported it too: the ticket stays open for officers; the alert's departure is only noted.
    assert tickets()[POTHOLE].status == "open"
    assert events(pothole.id)[-1][:2] == ("waze_gone", "waze")


async def test_a_malformed_feed_is_logged_and_kept_and_the_poller_goes_on(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    feed.serve((FIXTURES / "waze" / "malformed_not_json.txt").read_bytes())
    assert await poll(poller, redis_conn) == "malformed"
    assert "feed is not JSON" in caplog.text
    with db.session() as s:
        [kept] = s.scalars(select(InboundMessage)).all()
        assert (kept.channel, kept.status) == ("waze", "rejected") and "not JSON" in kept.reason
        assert kept.raw["body"].startswith("{")
    # Malformed items in a good feed are rejected one by one; the good alert in it is tracked.
    feed.serve(fixture("waze", "malformed_items"))
    assert await poll(poller, redis_conn) == "changed"
    assert set(alerts()) == {"0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d08"}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage).where(InboundMessage.status == "rejected")) == 4
    # And the poller goes on to the next good snapshot.
    feed.serve(fixture("waze", "alerts_flood_and_pothole"))
    assert await poll(poller, redis_conn) == "changed" and POTHOLE in tickets()


async def test_the_running_poller_backs_off_on_errors_and_goes_on(poller: FeedPoller, feed: FakeWazeFeed,
                                                                  redis_conn: redis.Redis,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    feed.fail_next(503, times=2)
    feed.serve((FIXTURES / "waze" / "malformed_not_json.txt").read_bytes())
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    for _ in range(200):  # the two errors back off 1 s and 2 s (±20%), then the malformed body is read
        await asyncio.sleep(0.05)
        if 200 in feed.statuses():
            break
    feed.serve(fixture("waze", "alerts_flood_and_pothole"))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if alerts():
            break
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert feed.statuses()[:3] == [503, 503, 200]
    assert "HTTP 503" in caplog.text and "retrying in" in caplog.text
    work(redis_conn)
    assert POTHOLE in tickets()


async def test_retry_after_is_honoured_and_an_oversized_feed_is_not_read(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis) -> None:
    feed.fail_next(429, times=1, retry_after=1)
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="HTTP 429"):
        await poller.poll_once()
    assert time.monotonic() - started >= 0.95  # the second asked for, before the error goes to the backoff
    assert feed.requests[-1].status == 429
    poller.options = replace(poller.options, max_feed_bytes=1000)
    assert await poll(poller, redis_conn) == "too_large"
    with db.session() as s:
        [kept] = s.scalars(select(InboundMessage)).all()
        assert kept.status == "rejected" and "max_feed_bytes" in kept.reason
    assert not alerts()


async def test_a_large_feed_arriving_in_many_chunks_is_read_whole(poller: FeedPoller, feed: FakeWazeFeed) -> None:
    big = snapshot("alerts_flood_and_pothole")
    template = big["alerts"][1]  # the weak flood: tracked, filed by nobody
    big["alerts"] = [{**template, "uuid": f"00000000-0000-4000-8000-{i:012d}", "reportDescription": "air naik " * 20,
                      "location": {"x": 106.80 + i * 1e-4, "y": -6.20}} for i in range(800)]
    feed.serve(big)
    assert len(feed.body) > 4 * 65_536
    outcome = await poller.poll_once()
    assert outcome.status == "changed" and outcome.changes is not None and outcome.changes.new == 800
    assert len(alerts()) == 800
    # A pipeline job per 500 messages: one for everything could outlive its timeout.
    jobs = Queue(INTAKE_QUEUE, connection=poller.intake.queue.connection).get_jobs()
    assert [len(job.args[0]) for job in jobs] == [500, 300]


async def test_a_vanished_alert_leaves_a_ticket_an_officer_works_on_and_closes_a_resolved_one(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis) -> None:
    await poll(poller, redis_conn)
    road_id, pothole_id = tickets()[CLOSED].id, tickets()[POTHOLE].id
    with db.session() as s:
        officer = roster.add(s, {"telegram_id": "7002", "name": "Bu Hub", "role": "agency_staff", "areas": ["31.74"],
                                 "agencies": ["dishub"]})
        s.flush()
        working = s.get(Ticket, road_id)
        lifecycle.change(s, working, "in_progress", f"officer:{officer.id}", officer_id=officer.id, note="ke lokasi")
        fixed = s.get(Ticket, pothole_id)
        lifecycle.change(s, fixed, "resolved", f"officer:{officer.id}", officer_id=officer.id, photo="AgADfoto")
    gone = snapshot("alerts_flood_and_pothole", drop=(CLOSED, POTHOLE))
    for minutes in (2, 4):
        gone["endTimeMillis"] += minutes * 60_000
        feed.serve(gone)
        await poll(poller, redis_conn)
    assert alerts()[CLOSED].status == "gone" and alerts()[POTHOLE].status == "gone"
    # Waze drops an alert nobody re-confirms; the officer on the road decides, not the feed.
    assert tickets()[CLOSED].status == "in_progress"
    assert events(tickets()[CLOSED].id)[-1][:2] == ("waze_gone", "waze")
    # A resolved ticket nobody can confirm closes when its alert is gone.
    assert tickets()[POTHOLE].status == "closed"


async def test_the_feed_token_stays_out_of_errors_and_redirects_are_not_followed(
        feed: FakeWazeFeed, redis_conn: redis.Redis) -> None:
    intake = Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn))
    refused = FeedPoller(feed_options("http://127.0.0.1:1/feed?token=s3cret", timeout=2), intake)
    with pytest.raises(ConnectionError) as err:  # nothing listens on port 1
        await refused.poll_once()
    await refused.close()
    assert "s3cret" not in str(err.value) and "http://127.0.0.1:1" in str(err.value)
    moved = FeedPoller(feed_options(feed.url.replace("/feed", "/moved") + "?token=s3cret"), intake)
    with pytest.raises(ConnectionError, match=r"HTTP 301 \(redirected to http://127.0.0.1:\d+: set waze.feed_url"):
        await moved.poll_once()
    await moved.close()
    assert [r.path.split("?")[0] for r in feed.requests] == ["/moved"]  # not followed


async def test_a_citizens_flood_report_gathers_a_weak_alert_already_in_the_feed(poller: FeedPoller,
                                                                              redis_conn: redis.Redis) -> None:
    await poll(poller, redis_conn)
    assert alerts()[FLOOD].ticket_id is None  # score 11: Waze alone files nothing
    citizen_report(redis_conn, "tg-3", "banjir di jl jatinegara barat, air masuk rumah", -6.22585, 106.86601)
    mine = next(t for t in tickets().values() if t.channel == "telegram")
    assert mine.category == "flood" and alerts()[FLOOD].ticket_id == mine.id
    assert [(kind, actor) for kind, actor, _ in events(mine.id)][:2] == [("created", "citizen:1"), ("corroborated", "waze")]
    # The far flood alert (Jl. Pahlawan Revolusi, 3.8 km away) stays alone.
    assert alerts()[FLOOD_FAR].ticket_id is None


async def officer_says(api: FakeBotAPI, config: dict[str, Any], conn: redis.Redis, card: dict[str, Any],
                       **content: Any) -> None:
    """The officer 7001 replies to their card in Telegram (the real poller), and the worker handles it."""
    officer = {"id": 7001, "is_bot": False, "first_name": "Pak Bina"}
    chat = {"id": 7001, "type": "private", "first_name": "Pak Bina"}
    api.push({"update_id": 900_000 + len(api.sent), "message": {
        "message_id": 800_000 + len(api.sent), "from": officer, "chat": chat, "date": 1764036000,
        "reply_to_message": {"message_id": card["message"]["message_id"], "date": 1764036000, "chat": chat,
                             "text": "..."}, **content}})
    poller = Poller(config, Intake(db.factory(), Queue(INTAKE_QUEUE, connection=conn)))
    await poller.start()
    await poller.poll_once()
    await poller.bot.shutdown()
    work(conn)


async def test_a_ticket_an_officer_took_outlives_its_alert_and_closes_when_resolved(
        poller: FeedPoller, feed: FakeWazeFeed, redis_conn: redis.Redis, fake_api: FakeBotAPI,
        telegram_config: dict[str, Any]) -> None:
    # As `crophub run` configures it: cards come from the configured bot, the one officers reply to.
    context.configure(RouterConfig(retry_intervals=[1, 2], telegram_bot=bot_id_of(fake_api.token)),
                      redis_conn)
    with db.session() as s:
        roster.add(s, {"telegram_id": "7001", "name": "Pak Bina", "role": "agency_staff", "areas": ["31.75"],
                       "agencies": ["binamarga"]})
    await poll(poller, redis_conn)
    [card] = [m for m in fake_api.sent if str(m["chat_id"]) == "7001"]
    await officer_says(fake_api, telegram_config, redis_conn, card, text="ambil")
    assert tickets()[POTHOLE].status == "taken" and tickets()[POTHOLE].assigned_officer_id is not None
    for minutes in (2, 4):  # the pothole leaves the feed while the officer has it
        feed.serve(snapshot("alerts_flood_and_pothole", minutes_later=minutes, drop=(POTHOLE,)))
        await poll(poller, redis_conn)
    assert alerts()[POTHOLE].status == "gone" and tickets()[POTHOLE].status == "taken"
    await officer_says(fake_api, telegram_config, redis_conn, card, caption="selesai",
                       photo=[{"file_id": "after", "file_unique_id": "a", "width": 10, "height": 10}])
    # Resolved, and nobody is left to confirm it: it closes at once.
    done = tickets()[POTHOLE]
    assert done.status == "closed" and done.resolution_photo_file_id == "telegram:file:123456789:after"
    assert [kind for kind, _, data in events(done.id) if kind == "status"][-2:] == ["status", "status"]
    assert events(done.id)[-1][1] == "waze" and events(done.id)[-2][2]["to"] == "resolved"
