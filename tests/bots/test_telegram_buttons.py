"""No dangling buttons on Telegram (issue 15), with the real python-telegram-bot client against the fake Bot API:
a reply carrying clear_buttons removes an earlier message's inline keyboard; a message with nothing left to clear is
not an error; a toast answers the button press; a row without text sends no message. The fake answers edits as
Telegram does."""
from __future__ import annotations

from typing import Any, AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bots import registry
from bots.errors import PermanentError, RateLimited
from bots.telegram.send import TelegramSender
from ingest.message import Address
from tests.fakes.telegram_api import FakeBotAPI

CHAT = "5550001"
BUTTONS = {"buttons": [[{"label": "Ya", "value": "ya"}, {"label": "Tidak", "value": "tidak"}]]}


@pytest.fixture
def api(fake_api: FakeBotAPI) -> FakeBotAPI:
    """The fake Bot API with no edits or messages left from earlier tests."""
    fake_api.reset()
    return fake_api


@pytest.fixture
async def sender(telegram_config: dict[str, Any]) -> AsyncIterator[TelegramSender]:
    """A sender on the fake, its HTTP session closed after the test."""
    made = TelegramSender(telegram_config)
    yield made
    await made.close()


def citizen(callback_id: str | None = None) -> Address:
    return Address(channel="telegram", chat_id=CHAT, callback_id=callback_id)


async def asked(sender: TelegramSender, extras: dict[str, Any] | None = None) -> str:
    """A question with inline buttons, as the dialogue sends one; → its message id."""
    return await sender.send(citizen(), "Apakah air sudah surut?", extras or BUTTONS)


def markup_of(api: FakeBotAPI, message_id: str) -> Any:
    """The inline keyboard Telegram now shows under the message (None: none)."""
    return api.messages[(CHAT, int(message_id))].get("reply_markup")


async def test_a_reply_with_clear_buttons_removes_the_earlier_keyboard(api: FakeBotAPI,
                                                                       sender: TelegramSender) -> None:
    question = await asked(sender)
    assert markup_of(api, question)["inline_keyboard"][0][0]["callback_data"] == "ya"
    answer = await sender.send(citizen(), "Terima kasih, laporan ditutup.", {"clear_buttons": question})
    assert api.edits == [{"chat_id": int(CHAT), "message_id": int(question), "reply_markup": None,
                          "at": api.edits[0]["at"]}]
    assert markup_of(api, question) is None
    assert api.calls[-2:] == ["editMessageReplyMarkup", "sendMessage"]  # cleared before the new message
    assert api.sent[-1]["text"] == "Terima kasih, laporan ditutup."
    assert answer == str(api.sent[-1]["message"]["message_id"])


@pytest.mark.parametrize("case", ["cleared already", "unknown message", "reply keyboard", "no keyboard"])
async def test_a_message_with_nothing_left_to_clear_is_not_an_error(case: str, api: FakeBotAPI,
                                                                    sender: TelegramSender) -> None:
    if case == "cleared already":  # e.g. a retry of a row whose clearing went through before its text failed
        target = await asked(sender)
        await sender.send(citizen(), "", {"clear_buttons": target})
    elif case == "unknown message":  # deleted by the citizen, or never ours
        target = "999999"
    elif case == "reply keyboard":  # a share-location keyboard cannot be edited away
        target = await asked(sender, {"ask_location": "Bagikan lokasi"})
    else:
        target = await sender.send(citizen(), "Laporan diterima.")
    edits = len(api.edits)
    answer = await sender.send(citizen(), "Pertanyaan itu sudah dijawab.", {"clear_buttons": target})
    assert answer and api.sent[-1]["text"] == "Pertanyaan itu sudah dijawab."
    assert len(api.edits) == edits  # nothing changed, and no error
    assert api.calls.count("editMessageReplyMarkup") == (2 if case == "cleared already" else 1)


async def test_other_refusals_of_an_edit_map_as_any_error(api: FakeBotAPI, sender: TelegramSender) -> None:
    question = await asked(sender)
    api.fail_next("editMessageReplyMarkup", 400, {"ok": False, "error_code": 400,
                                                  "description": "Bad Request: chat not found"})
    with pytest.raises(PermanentError, match="Chat not found"):
        await sender.send(citizen(), "Terima kasih.", {"clear_buttons": question})
    api.fail_next("editMessageReplyMarkup", 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: "
                                                  "retry after 3", "parameters": {"retry_after": 3}})
    with pytest.raises(RateLimited) as limited:
        await sender.send(citizen(), "Terima kasih.", {"clear_buttons": question})
    assert limited.value.retry_after == 3
    assert markup_of(api, question) is not None  # nothing was cleared, and the text waits with it
    assert [m["text"] for m in api.sent] == ["Apakah air sudah surut?"]


async def test_a_toast_answers_the_button_press(api: FakeBotAPI, sender: TelegramSender) -> None:
    question = await asked(sender)
    await sender.send(citizen("cb-1"), "Baik, kami catat.", {"toast": "Tercatat", "clear_buttons": question})
    await sender.send(citizen("cb-2"), "Laporan Anda sudah kami terima.")  # no toast: a silent answer, as before
    long = "Pertanyaan ini sudah tidak berlaku. " * 10
    await sender.send(citizen("cb-3"), "", {"toast": long})  # Telegram refuses notices over 200 characters
    assert [a["callback_query_id"] for a in api.answered] == ["cb-1", "cb-2", "cb-3"]
    assert api.answered[0]["text"] == "Tercatat" and api.answered[0]["show_alert"] is False  # a toast, not an alert
    texts = api.toasts()
    assert texts[1] is None and len(texts[2] or "") == 200 and (texts[2] or "").endswith("…")
    assert api.calls.index("answerCallbackQuery") < api.calls.index("editMessageReplyMarkup")  # the spinner first


async def test_a_row_without_text_sends_no_message(api: FakeBotAPI, sender: TelegramSender) -> None:
    question = await asked(sender)
    # A stale press: the question is outdated, so the press gets a notice and the keyboard goes; nothing is said.
    provider_id = await sender.send(citizen("cb-stale"), "", {"toast": "Pertanyaan ini sudah tidak berlaku.",
                                                              "clear_buttons": question})
    assert provider_id == ""
    assert [m["text"] for m in api.sent] == ["Apakah air sudah surut?"]
    assert "sendMessage" not in api.calls[1:] and "sendPhoto" not in api.calls
    assert api.toasts() == ["Pertanyaan ini sudah tidak berlaku."] and markup_of(api, question) is None
    assert await sender.send(citizen(), "  ", {"clear_buttons": question}) == ""  # whitespace is no message either
    assert len(api.sent) == 1


async def test_a_malformed_message_id_clears_nothing_and_the_text_still_goes(api: FakeBotAPI,
                                                                            sender: TelegramSender) -> None:
    assert await sender.send(citizen(), "Terima kasih.", {"clear_buttons": "web-token-abc"})
    assert "editMessageReplyMarkup" not in api.calls and api.sent[-1]["text"] == "Terima kasih."


def test_the_senders_say_who_can_remove_buttons() -> None:
    assert registry.offers("telegram", "edits") and registry.offers("web", "edits")
    assert not registry.offers("twitter", "edits") and not registry.offers("email", "edits")


# --- the fake, as Telegram answers: what the sender's tolerance rests on -----------------------------------------

async def test_the_fake_edits_and_refuses_as_the_bot_api_does(api: FakeBotAPI) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ya", callback_data="ya")]])
    async with Bot(api.token, base_url=api.base_url, base_file_url=api.file_base_url) as bot:
        sent = await bot.send_message(chat_id=42, text="Sudah surut?", reply_markup=keyboard)
        assert sent.reply_markup == keyboard  # a Message names its inline keyboard
        same = InlineKeyboardMarkup([[InlineKeyboardButton("Ya", callback_data="ya")]])
        with pytest.raises(BadRequest, match="Message is not modified"):
            await bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id, reply_markup=same)
        other = InlineKeyboardMarkup([[InlineKeyboardButton("Belum", callback_data="belum")]])
        edited = await bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id, reply_markup=other)
        assert isinstance(edited, type(sent)) and edited.reply_markup == other and edited.edit_date
        edited = await bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id)
        assert edited.message_id == sent.message_id and edited.reply_markup is None and edited.text == "Sudah surut?"
        with pytest.raises(BadRequest, match="Message is not modified: specified new message content"):
            await bot.edit_message_reply_markup(chat_id=42, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="Message to edit not found"):
            await bot.edit_message_reply_markup(chat_id=43, message_id=sent.message_id)  # another chat's id
        await bot.answer_callback_query("cb-9", text="Tercatat")
        with pytest.raises(BadRequest):
            await bot.answer_callback_query("cb-10", text="x" * 201)
    assert [e["reply_markup"] for e in api.edits] == [other.to_dict(), None]
    assert api.toasts() == ["Tercatat"]
