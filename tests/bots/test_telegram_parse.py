"""One test per Telegram fixture: what parse_update makes of each payload."""
from __future__ import annotations

from datetime import datetime, timezone

from ingest.intake import Skipped
from ingest.message import Message
from bots.telegram.parse import bot_id_of, parse_update
from tests.conftest import fixture

BOT = "123456789"


def parse(name: str) -> Message | Skipped:
    return parse_update(fixture("telegram", name), BOT)


def test_text_message() -> None:
    msg = parse("text_message")
    assert isinstance(msg, Message)
    assert msg.key == f"{BOT}:700000101"
    assert msg.text.startswith("Min, banjir setinggi lutut")
    assert msg.sender.id == "52710031" and msg.sender.name == "Siti Rahma" and msg.sender.username == "sitirahma_jkt"
    assert msg.address.channel == "telegram" and msg.address.chat_id == "52710031" and msg.address.bot == BOT
    assert msg.address.reply_to == "201" and msg.provider_message_id == "201"
    assert msg.language_hint == "id" and msg.command is None and msg.media == [] and msg.location is None
    assert msg.sent_at is not None and msg.sent_at.year == 2025
    assert msg.raw["update_id"] == 700000101


def test_text_english() -> None:
    msg = parse("text_english")
    assert isinstance(msg, Message)
    assert msg.language_hint == "en" and "pothole" in msg.text


def test_photo_with_caption() -> None:
    msg = parse("photo_with_caption")
    assert isinstance(msg, Message)
    assert msg.text.startswith("Tumpukan sampah")
    assert len(msg.media) == 1
    photo = msg.media[0]
    assert (photo.kind, photo.file_id, photo.width, photo.height) == ("photo", "AgACAgUAAxkBAAIBY2Vt_large", 1280, 960)


def test_location() -> None:
    msg = parse("location")
    assert isinstance(msg, Message)
    assert msg.text == "" and msg.location is not None
    assert (msg.location.lat, msg.location.lon, msg.location.accuracy_m) == (-6.225014, 106.900447, 12.5)


def test_venue() -> None:
    msg = parse("venue")
    assert isinstance(msg, Message) and msg.location is not None
    assert msg.location.title == "Halte Cawang UKI" and msg.location.lat == -6.2425


def test_reply_message() -> None:
    msg = parse("reply_message")
    assert isinstance(msg, Message)
    assert msg.reply_to == "1001" and msg.text.startswith("Airnya sudah mulai surut")


def test_command_start() -> None:
    msg = parse("command_start")
    assert isinstance(msg, Message) and msg.command == "/start"


def test_command_status_group() -> None:
    msg = parse("command_status_group")
    assert isinstance(msg, Message)
    assert msg.command == "/status"  # "@CropHubTestBot" stripped
    assert msg.address.chat_id == "-1001234567890" and msg.sender.id == "52710031"


def test_edited_message_is_named_and_ignored() -> None:
    skip = parse("edited_message")  # a corrected text: the report as first sent stands
    assert isinstance(skip, Skipped) and skip.status == "ignored"
    assert skip.reason == "edited message (only live location updates are read)" and skip.key == f"{BOT}:700000109"


def test_live_location() -> None:
    msg = parse("live_location")  # the message that starts sharing: its date + live_period is the end
    assert isinstance(msg, Message) and msg.location is not None and msg.text == ""
    assert (msg.location.lat, msg.location.lon, msg.location.accuracy_m) == (-6.231912, 106.874303, 16.2)
    assert msg.location.live_until == datetime(2025, 11, 25, 5, 0, tzinfo=timezone.utc)  # 04:00 + 3600 s
    assert msg.location.live_update is False and msg.sender.id == "88120001" and msg.key == f"{BOT}:700000120"


def test_live_location_update() -> None:
    msg = parse("live_location_update")  # Telegram edits the message with each new position
    assert isinstance(msg, Message) and msg.location is not None
    assert (msg.location.lat, msg.location.lon, msg.location.accuracy_m) == (-6.23277, 106.876051, 9.5)
    assert msg.location.live_update is True
    assert msg.location.live_until == datetime(2025, 11, 25, 5, 0, tzinfo=timezone.utc)  # still the first date's
    assert msg.sent_at == datetime(2025, 11, 25, 4, 5, 30, tzinfo=timezone.utc)  # the edit's time
    assert msg.key == f"{BOT}:700000121" and msg.provider_message_id == "3101" and msg.command is None
    assert msg.sender.id == "88120001" and msg.address.chat_id == "88120001" and msg.text == ""


def test_live_location_stop() -> None:
    msg = parse("live_location_stop")  # no live_period: the sender stopped sharing, at this edit
    assert isinstance(msg, Message) and msg.location is not None and msg.location.live_update is True
    stopped = datetime(2025, 11, 25, 4, 25, 10, tzinfo=timezone.utc)
    assert msg.location.live_until == stopped == msg.sent_at


def test_malformed_live_location_update_is_rejected() -> None:
    skip = parse("malformed_live_location_update")
    assert isinstance(skip, Skipped) and skip.status == "rejected" and skip.reason.startswith("edited_message:")
    assert "latitude" in skip.reason and skip.key == f"{BOT}:700000123"


def test_sticker_is_named_and_ignored() -> None:
    skip = parse("sticker")
    assert isinstance(skip, Skipped) and skip.status == "ignored"
    assert skip.reason == "unsupported message content: sticker"


def test_callback_query_is_read_as_a_reply_to_the_message_with_the_button() -> None:
    msg = parse("callback_query")
    assert isinstance(msg, Message)
    assert msg.text == "rate:5" and msg.command is None and msg.reply_to == "1002"
    assert msg.address.callback_id == "4382bfdwdsb323b2d9" and msg.address.chat_id == "52710031"
    assert msg.sender.id == "52710031" and msg.key == f"{BOT}:700000111"


def test_callback_query_card_button_is_a_command() -> None:
    msg = parse("callback_query_card")
    assert isinstance(msg, Message)
    assert msg.command == "/ambil" and msg.text == "/ambil JKT-2026-000042"
    assert msg.address.chat_id == "-1009876543210" and msg.reply_to == "2044" and msg.sender.id == "88120001"


def test_callback_query_inline_is_named_and_ignored() -> None:
    skip = parse("callback_query_inline")
    assert isinstance(skip, Skipped) and skip.status == "ignored" and "inline message" in skip.reason


def test_malformed_chat_is_rejected_with_reason() -> None:
    skip = parse("malformed_chat")
    assert isinstance(skip, Skipped) and skip.status == "rejected"
    assert skip.key == f"{BOT}:700000112" and skip.reason.startswith("message:")


def test_malformed_no_chat_is_rejected() -> None:
    skip = parse("malformed_no_chat")
    assert isinstance(skip, Skipped) and skip.status == "rejected" and skip.reason == "message has no chat"


def test_malformed_location_is_rejected() -> None:
    skip = parse("malformed_location")
    assert isinstance(skip, Skipped) and skip.status == "rejected" and "lat" in skip.reason


def test_malformed_date_is_rejected() -> None:
    skip = parse("malformed_date")
    assert isinstance(skip, Skipped) and skip.status == "rejected" and "OverflowError" in skip.reason


def test_not_an_object_or_no_update_id_is_rejected_with_a_stable_key() -> None:
    for raw in (["not", "an", "update"], {"message": {"text": "hi"}}, {"update_id": "7", "message": {}}):
        first, again = parse_update(raw, BOT), parse_update(raw, BOT)
        assert isinstance(first, Skipped) and first.status == "rejected"
        assert first.key.startswith("sha256:") and first.key == again.key  # replays dedupe


def test_bot_id_of_token() -> None:
    assert bot_id_of("123456789:AAE-secret") == "123456789"
