"""The aiohttp request backend under python-telegram-bot: what PTB's own httpx one did, errors included."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import NetworkError, TimedOut

from bots.telegram.request import AiohttpRequest
from tests.fakes.telegram_api import FakeBotAPI


def _bot(api: FakeBotAPI, request: AiohttpRequest) -> Bot:
    return Bot(api.token, base_url=api.base_url, base_file_url=api.file_base_url, request=request)


def test_form_fields_and_a_file_upload_reach_the_bot_api(fake_api: FakeBotAPI) -> None:
    request = AiohttpRequest(connection_pool_size=2)

    async def go() -> None:
        bot = _bot(fake_api, request)
        sent = await bot.send_message(chat_id=42, text="Laporan diterima ✅")
        photo = await bot.send_photo(chat_id=42, photo=b"\xff\xd8\xff\xe0 jpeg", caption="foto")
        assert sent.message_id and photo.message_id
        await request.shutdown()

    asyncio.run(go())
    texts = [m.get("text") or m.get("caption") for m in fake_api.sent if str(m["chat_id"]) == "42"]
    assert texts[-2:] == ["Laporan diterima ✅", "foto"]
    assert fake_api.uploads[-1] == b"\xff\xd8\xff\xe0 jpeg"


def test_a_bot_used_from_a_second_event_loop_opens_a_session_there(fake_api: FakeBotAPI) -> None:
    request = AiohttpRequest()
    bot = _bot(fake_api, request)

    async def send(text: str) -> None:
        try:
            await bot.send_message(chat_id=43, text=text)
        finally:
            await request.shutdown()

    for text in ("satu", "dua"):  # each asyncio.run is a new loop: a session of the first cannot serve it
        asyncio.run(send(text))
    assert [m["text"] for m in fake_api.sent if str(m["chat_id"]) == "43"][-2:] == ["satu", "dua"]


def test_nobody_listening_is_a_network_error() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    request = AiohttpRequest(connect_timeout=2)
    bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=request)

    async def send() -> None:
        try:
            await bot.send_message(chat_id=1, text="halo")
        finally:
            await request.shutdown()

    with pytest.raises(NetworkError, match="aiohttp.ClientConnectorError"):
        asyncio.run(send())


def test_an_answer_slower_than_the_read_timeout_times_out() -> None:
    async def go() -> None:
        async def slow(_request: web.Request) -> web.Response:
            await asyncio.sleep(1.5)
            return web.json_response({"ok": True, "result": True})

        app = web.Application()
        app.router.add_post("/{tail:.*}", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        request = AiohttpRequest(read_timeout=0.3)
        bot = Bot("1:x", base_url=f"http://127.0.0.1:{port}/bot", request=request)
        try:
            with pytest.raises(TimedOut):
                await bot.send_message(chat_id=1, text="halo")
        finally:
            await request.shutdown()
            await runner.cleanup()

    asyncio.run(go())
