"""The web chat over real HTTP, on SQLite and PostgreSQL: a browser (a cookie) reports through the real intake,
pipeline, outbox and worker, reads the replies, answers the dialogue's buttons, and sees the officer's photo;
another browser sees none of it; bad posts get a clear error."""
from __future__ import annotations

from typing import Any, AsyncIterator

import pytest
import redis
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from rq import Queue
from sqlalchemy import func, select

from ingest.intake import INTAKE_QUEUE, Intake
from ingest.message import Address
from router import crop, replies
from store import db, media
from store import officers as roster
from store.models import InboundMessage, Officer, Outbox, Ticket
from tests.fakes.telegram_api import FakeBotAPI
from tests.web.conftest import work
from web import chat
from web.app import make_app
from web.media import Photos

pytestmark = pytest.mark.usefixtures("hub")

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"hasil" * 30 + b"\xff\xd9"


def make_client(conn: redis.Redis) -> TestClient:
    app = make_app(lambda: {"redis": True})
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    return TestClient(TestServer(app))


@pytest.fixture
async def client(redis_conn: redis.Redis) -> AsyncIterator[TestClient]:
    async with make_client(redis_conn) as c:
        assert (await c.get("/chat")).status == 200  # the page gives the browser its chat cookie
        yield c


async def say(client: TestClient, conn: redis.Redis, id_: str, **fields: Any) -> Any:
    response = await client.post("/chat/messages", json={"id": id_, **fields})
    assert response.status == 202, await response.text()
    work(conn)
    return await response.json()


async def history(client: TestClient, after: int | None = None) -> dict[str, Any]:
    response = await client.get("/chat/messages" + (f"?after={after}" if after is not None else ""))
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    return dict(await response.json())


def hub_texts(body: dict[str, Any]) -> list[str]:
    return [m["text"] for m in body["messages"] if m["from"] == "hub"]


async def test_a_report_is_filed_and_answered_in_the_page(client: TestClient, redis_conn: redis.Redis) -> None:
    async with make_client(redis_conn) as fresh:
        cookie = (await fresh.get("/chat")).headers["Set-Cookie"]
        assert cookie.startswith(chat.COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    await say(client, redis_conn, "m-0000001", text="banjir 50 cm di jl jatinegara barat <b>tolong</b>",
              location={"lat": -6.2245, "lon": 106.8660})
    body = await history(client)
    assert [m["from"] for m in body["messages"]] == ["me", "hub"]
    assert body["messages"][0]["text"] == "banjir 50 cm di jl jatinegara barat <b>tolong</b>"  # data, not markup
    with db.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert ticket.channel == "web" and ticket.category == "flood" and ticket.kecamatan_kode == "31.75.03"
    assert ticket.public_id in hub_texts(body)[0]
    # Polling after the cursor brings nothing new until something happens (a reply sent in the last minute is
    # read again, for the page to drop: one committed late by another worker is not missed).
    seen = {m["id"] for m in body["messages"]}
    again = await history(client, body["cursor"])
    assert {m["id"] for m in again["messages"]} <= seen and again["cursor"] == body["cursor"]
    assert (await client.get("/chat/messages?after=²")).status == 400  # a digit, but not a cursor
    assert (await client.get("/chat/messages?after=" + "9" * 30)).status == 400


async def test_a_resent_message_is_one_message(client: TestClient, redis_conn: redis.Redis) -> None:
    for _ in range(3):  # a page retrying after a lost answer
        await say(client, redis_conn, "m-retry-01", text="sampah menumpuk di pinggir kali ciliwung",
                  location={"lat": -6.25, "lon": 106.87})
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert s.scalar(select(func.count()).select_from(Ticket)) == 1
    assert len(hub_texts(await history(client))) == 1


async def test_the_dialogue_asks_where_and_the_browser_shares_its_location(client: TestClient,
                                                                          redis_conn: redis.Redis) -> None:
    await say(client, redis_conn, "m-where-01", text="ada banjir setinggi lutut, air masuk rumah warga")
    asked = [m for m in (await history(client))["messages"] if m["from"] == "hub"]
    assert asked[-1]["ask_location"]  # the page offers the browser's location
    await say(client, redis_conn, "m-where-02", location={"lat": -6.2245, "lon": 106.8660})
    with db.session() as s:
        assert s.scalars(select(Ticket)).one().kecamatan_kode == "31.75.03"


async def test_a_typed_answer_to_where_completes_the_ticket(client: TestClient, redis_conn: redis.Redis) -> None:
    await say(client, redis_conn, "m-typed-01", text="ada banjir setinggi lutut, air masuk rumah warga")
    await say(client, redis_conn, "m-typed-02", text="Jl. Kapten Tendean, kelurahan Pela Mampang")  # not a reply
    with db.session() as s:
        [ticket] = s.scalars(select(Ticket)).all()  # one ticket: the address answered the question
        assert ticket.status != "needs_info" and ticket.kelurahan_kode == "31.74.03.1003"
    answer = hub_texts(await history(client))[-1]
    assert f"Lokasi tiket {ticket.public_id}: " in answer
    assert "Kel. Pela Mampang, Kec. Mampang Prapatan, Jakarta Selatan" in answer
    assert "belum ada petugas" in answer  # nobody covers it here, and the citizen is told so, not "diteruskan"


async def test_a_category_typed_by_name_answers_and_its_buttons_go(client: TestClient, redis_conn: redis.Redis) -> None:
    from router import context
    from router.context import RouterConfig

    context.configure(RouterConfig(retry_intervals=[1, 2], confidence_threshold=1.0), redis_conn)  # always unsure
    await say(client, redis_conn, "m-cat-0001", text="air got meluap ke jalan di jl jatinegara barat",
              location={"lat": -6.2245, "lon": 106.8660})
    [asked] = [m for m in (await history(client))["messages"] if m["from"] == "hub"]
    assert asked["buttons"]  # "which category?"
    await say(client, redis_conn, "m-cat-0002", text="sampah")  # typed, not a button
    with db.session() as s:
        assert s.scalars(select(Ticket)).one().category == "garbage"
    body = await history(client)
    assert asked["id"] in body["cleared"]
    assert [m for m in body["messages"] if m["id"] == asked["id"]][0]["buttons"] == []


async def test_a_location_outside_jakarta_is_refused_in_the_page(client: TestClient, redis_conn: redis.Redis) -> None:
    await say(client, redis_conn, "m-out-0001", text="jalan berlubang besar, bahaya buat motor")
    await say(client, redis_conn, "m-out-0002", location={"lat": -6.9175, "lon": 107.6191})  # Bandung
    assert "di luar wilayah DKI Jakarta" in hub_texts(await history(client))[-1]
    with db.session() as s:
        assert s.scalars(select(Ticket)).one().status == "needs_info"


async def test_the_officer_photo_reaches_the_page_and_its_buttons_answer(client: TestClient,
                                                                         redis_conn: redis.Redis) -> None:
    await say(client, redis_conn, "m-fix-0001", text="banjir 50 cm di jl jatinegara barat",
              location={"lat": -6.2245, "lon": 106.8660})
    with db.session() as s:
        officer = roster.add(s, {"telegram_id": "7101", "name": "Budi PPSU", "role": "petugas", "areas": ["31.75"],
                                 "agencies": ["dsda"]})
        s.flush()
        ticket = s.scalars(select(Ticket).with_for_update()).one()
        ref = media.save(s, JPEG, 1024 * 1024)
        _, rows, _ = crop.act_from_web(s, ticket, s.get(Officer, officer.id), "done", "air sudah surut", ref)
        outbox = replies.store(s, rows)
    replies.enqueue_send(outbox)
    work(redis_conn)
    resolved = [m for m in (await history(client))["messages"] if m["from"] == "hub"][-1]
    assert "surut" in resolved["text"] and resolved["photo"]
    photo = await client.get(resolved["photo"])
    assert photo.status == 200 and await photo.read() == JPEG
    # Another browser sees neither the chat nor the photo.
    async with make_client(redis_conn) as other:
        await other.get("/chat")
        assert (await other.get(resolved["photo"])).status == 404
        assert (await other.get("/chat/messages")).status == 200
        assert (await (await other.get("/chat/messages")).json())["messages"] == []
    # "Fixed": the button's value, as a reply to the message that carried it.
    fixed = resolved["buttons"][0][0]
    await say(client, redis_conn, "m-fix-0002", text=fixed["value"], reply_to=resolved["id"])
    with db.session() as s:
        assert s.scalars(select(Ticket)).one().status == "closed"


async def test_a_photo_comes_with_the_report(client: TestClient, redis_conn: redis.Redis,
                                             fake_api: FakeBotAPI) -> None:
    with db.session() as s:  # the road officer of Jakarta Timur, who gets the card in Telegram
        roster.add(s, {"telegram_id": "7201", "name": "Rudi", "role": "petugas", "areas": ["31.75"],
                       "agencies": ["binamarga"]})
    form = FormData()
    form.add_field("id", "m-photo-01")
    form.add_field("text", "jalan berlubang besar di jl jatinegara barat")
    form.add_field("lat", "-6.2245")
    form.add_field("lon", "106.8660")
    form.add_field("photo", JPEG, filename="lubang.jpg", content_type="image/jpeg")
    response = await client.post("/chat/messages", data=form)
    assert response.status == 202, await response.text()
    work(redis_conn)
    with db.session() as s:
        ticket = s.scalars(select(Ticket)).one()
        assert media.load(s, ticket.photo_file_id or "") == (JPEG, "image/jpeg")
    # The card carries the photo: uploaded to Telegram, since a file of ours has no Telegram id.
    card = next(m for m in fake_api.sent if m["chat_id"] == 7201)
    assert card["photo"][0]["file_id"] == "uploaded-photo" and JPEG in fake_api.uploads


@pytest.mark.parametrize(("body", "reason"), [
    ({"text": "banjir"}, "id must be"),
    ({"id": "short", "text": "banjir"}, "id must be"),
    ({"id": "m-bad-0001", "text": 5}, "text must be a string"),
    ({"id": "m-bad-0002", "text": "x" * 4001}, "longer than 4000"),
    ({"id": "m-bad-0003", "location": {"lat": 95, "lon": 106.8}}, "location is not a point"),
    ({"id": "m-bad-0004", "text": "ok", "reply_to": "<script>"}, "reply_to"),
    (["not", "an", "object"], "not a JSON object"),
])
async def test_bad_posts_get_a_clear_error(client: TestClient, body: Any, reason: str) -> None:
    response = await client.post("/chat/messages", json=body)
    assert response.status == 400 and reason in (await response.json())["error"]


async def test_what_the_chat_refuses(client: TestClient, redis_conn: redis.Redis) -> None:
    broken = await client.post("/chat/messages", data=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status == 400 and "not JSON" in (await broken.json())["error"]
    form = FormData()
    form.add_field("id", "m-notphoto")
    form.add_field("photo", b"<svg onload=alert(1)>", filename="x.jpg", content_type="image/jpeg")
    assert "not a photo" in (await (await client.post("/chat/messages", data=form)).json())["error"]
    elsewhere = await client.post("/chat/messages", json={"id": "m-cross-01", "text": "banjir"},
                                  headers={"Origin": "https://evil.example"})
    assert elsewhere.status == 403
    async with make_client(redis_conn) as stranger:  # never opened the page: no chat
        assert (await stranger.post("/chat/messages", json={"id": "m-nochat-1", "text": "x"})).status == 401
        assert (await stranger.get("/chat/messages")).status == 401
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
    statuses = [(await client.post("/chat/messages", json={"id": f"m-flood-{i:03d}", "text": "tes"})).status
                for i in range(chat.POSTS_PER_MINUTE + 1)]
    # The two bad posts above counted too: a browser gets POSTS_PER_MINUTE tries a minute, good or bad.
    accepted = chat.POSTS_PER_MINUTE - 2
    assert statuses == [202] * accepted + [429] * (len(statuses) - accepted)


async def test_photos_are_counted_apart(client: TestClient) -> None:
    async def send(n: int) -> int:
        form = FormData()
        form.add_field("id", f"m-pic-{n:04d}")
        form.add_field("photo", JPEG, filename="x.jpg", content_type="image/jpeg")
        return (await client.post("/chat/messages", data=form)).status

    statuses = [await send(n) for n in range(chat.PHOTOS_PER_HOUR + 1)]
    assert statuses == [202] * chat.PHOTOS_PER_HOUR + [429]
    assert (await client.post("/chat/messages", json={"id": "m-words-01", "text": "masih boleh menulis"})).status == 202


async def test_behind_a_proxy_the_client_is_the_forwarded_one(redis_conn: redis.Redis) -> None:
    app = make_app(lambda: {"redis": True}, proxy_hops=1)
    sessions = db.factory()
    chat.setup(app, sessions, Intake(sessions, Queue(INTAKE_QUEUE, connection=redis_conn)),
               Photos(sessions, max_bytes=1024 * 1024))
    public_site = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "lapor.jakarta.go.id"}
    async with TestClient(TestServer(app)) as proxied:
        await proxied.get("/chat")
        posted = [(await proxied.post("/chat/messages", json={"id": f"m-proxy-{n:03d}", "text": "tes"},
                                      headers={**public_site, "Origin": "https://lapor.jakarta.go.id",
                                               "X-Forwarded-For": f"203.0.113.{n}"})).status
                  for n in range(chat.POSTS_PER_MINUTE)]
        assert posted == [202] * chat.POSTS_PER_MINUTE  # the page's own origin, as the proxy forwards it
        # One browser still has its limit, wherever it says it is; the address limit counts each client apart.
        over = await proxied.post("/chat/messages", json={"id": "m-proxy-999", "text": "tes"},
                                  headers={**public_site, "X-Forwarded-For": "203.0.113.250"})
        assert over.status == 429
        elsewhere = await proxied.post("/chat/messages", json={"id": "m-proxy-998", "text": "tes"},
                                       headers={**public_site, "Origin": "https://evil.example"})
        assert elsewhere.status == 403


def my_address(client: TestClient) -> Address:
    """The reply route of the test browser's chat (its cookie's hash), as the web chat's parse makes it."""
    token = next(c.value for c in client.session.cookie_jar if c.key == chat.COOKIE)
    return Address(channel="web", chat_id=chat.chat_id_of(token))


def deliver(conn: redis.Redis, *rows: dict[str, Any]) -> None:
    """Store replies in the outbox and let the worker send them, as the router's are."""
    with db.session() as s:
        ids = replies.store(s, list(rows))
    replies.enqueue_send(ids)
    work(conn)


async def test_an_answered_question_loses_its_buttons_on_the_page(client: TestClient, redis_conn: redis.Redis) -> None:
    me = my_address(client)
    deliver(redis_conn,
            replies.reply(me, "Di mana lokasinya?", "t15-where", extras={"ask_location": "Bagikan lokasi"}),
            replies.reply(me, "Apakah air sudah surut?", "t15-ask",
                          extras={"buttons": [[{"label": "Sudah", "value": "sudah"},
                                               {"label": "Belum", "value": "belum"}]]}))
    opened = await history(client)
    where, question = [m for m in opened["messages"] if m["from"] == "hub"]
    assert where["ask_location"] == "Bagikan lokasi" and question["buttons"][0][1]["value"] == "belum"
    assert opened["cleared"] == [] and opened["notices"] == []

    # A press on the question is answered; the hub clears it with a row of no text and a toast (a page already
    # open drops the buttons and shows the notice), and the question before it with its answer.
    deliver(redis_conn,
            replies.reply(me, "", "t15-toast", extras={"clear_buttons": question["id"], "toast": "Tercatat"}),
            replies.reply(me, "Terima kasih, laporan ditutup.", "t15-done", extras={"clear_buttons": where["id"]}))
    polled = await history(client, opened["cursor"])
    assert polled["cleared"] == sorted([question["id"], where["id"]])
    assert [n["text"] for n in polled["notices"]] == ["Tercatat"]
    # The empty row is no bubble; the questions reread from the last minute come without their buttons.
    assert "" not in hub_texts(polled) and hub_texts(polled)[-1] == "Terima kasih, laporan ditutup."
    assert all(not m.get("buttons") and not m.get("ask_location") for m in polled["messages"])
    again = await history(client, opened["cursor"])  # a poll rereads the last minute: the page drops repeats
    assert again["notices"] == polled["notices"] and again["cleared"] == polled["cleared"]

    # A fresh load draws the questions without their buttons, no empty bubble, and no old notice.
    fresh = await history(client)
    hub = [m for m in fresh["messages"] if m["from"] == "hub"]
    assert [m["text"] for m in hub] == ["Di mana lokasinya?", "Apakah air sudah surut?",
                                        "Terima kasih, laporan ditutup."]
    assert all(m["buttons"] == [] and m["ask_location"] is None for m in hub)
    assert fresh["notices"] == [] and question["id"] in fresh["cleared"]
    with db.session() as s:  # the empty row was sent (no id: nothing travelled), so the chat does not wait on it
        empty = s.scalars(select(Outbox).where(Outbox.dedupe_key == "t15-toast")).one()
        assert empty.status == "sent" and empty.provider_message_id == ""
