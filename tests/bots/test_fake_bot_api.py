"""The fake Bot API answers the real python-telegram-bot client as Telegram does (the tests lean on it)."""
from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import Conflict, InvalidToken

from tests.fakes.telegram_api import FakeBotAPI


def bot(api: FakeBotAPI, token: str | None = None) -> Bot:
    return Bot(token or api.token, base_url=api.base_url, base_file_url=api.file_base_url)


async def test_get_me_send_photo_and_get_file(fake_api: FakeBotAPI) -> None:
    async with bot(fake_api) as b:
        assert b.username == "CropHubTestBot"
        sent = await b.send_photo(chat_id=42, photo="AgACAgUAAxkBAAIBY2Vt_large", caption="Sudah dibersihkan")
        assert sent.photo[-1].file_id == "AgACAgUAAxkBAAIBY2Vt_large" and sent.caption == "Sudah dibersihkan"
        file = await b.get_file("AgACAgUAAxkBAAIBY2Vt_large")
        assert file.file_path and (await file.download_as_bytearray()).startswith(b"\xff\xd8")
    assert fake_api.sent[0]["chat_id"] == 42


async def test_get_updates_confirms_by_offset_and_conflicts_with_a_webhook(fake_api: FakeBotAPI) -> None:
    first = fake_api.push({"message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"}, "text": "a"}})
    async with bot(fake_api) as b:
        assert [u.update_id for u in await b.get_updates(timeout=0)] == [first]
        assert [u.update_id for u in await b.get_updates(timeout=0)] == [first]  # not confirmed yet
        assert await b.get_updates(offset=first + 1, timeout=0) == ()
        await b.set_webhook("https://example.org/hook", secret_token="x")
        with pytest.raises(Conflict):
            await b.get_updates(timeout=0)
        await b.delete_webhook()


async def test_a_wrong_token_is_refused(fake_api: FakeBotAPI) -> None:
    with pytest.raises(InvalidToken):
        async with bot(fake_api, "999:wrong") as b:
            await b.get_me()
