"""One test per Messenger fixture (tests/fixtures/messenger: real webhook shapes, see its README): what
parse_payload makes of each POST body."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from bots.messenger.parse import parse_payload, receipts
from ingest.intake import Skipped
from ingest.message import Message, Receipt
from tests.conftest import fixture

PAGE = "104857392011223"
PSID = "7123456789012345"
NOW = datetime(2025, 1, 2, 7, 0, tzinfo=timezone.utc)


def parse(name: str) -> list[Message | Skipped]:
    return parse_payload(fixture("messenger", name), NOW)


def one_message(name: str) -> Message:
    [item] = parse(name)
    assert isinstance(item, Message), item
    return item


def one_skip(name: str, status: str) -> Skipped:
    [item] = parse(name)
    assert isinstance(item, Skipped) and item.status == status, item
    assert item.channel == "messenger" and item.reason
    return item


def test_text_message() -> None:
    msg = one_message("text_message")
    assert msg.key == "messenger:m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"
    assert msg.provider_message_id and msg.key == "messenger:" + msg.provider_message_id
    assert msg.text.startswith("Min, banjir setinggi lutut")
    assert msg.sender.id == PSID and msg.sender.name is None
    assert msg.address.channel == "messenger" and msg.address.chat_id == PSID and msg.address.bot == PAGE
    assert msg.media == [] and msg.location is None and msg.command is None and msg.reply_to is None
    assert msg.sent_at == datetime.fromtimestamp(1735801234.321, timezone.utc) and msg.received_at == NOW
    assert msg.raw["message"]["text"] == msg.text  # the event itself is kept


def test_image() -> None:
    msg = one_message("image")
    assert msg.text == "" and len(msg.media) == 1
    photo = msg.media[0]
    assert photo.kind == "photo" and photo.file_id.startswith("https://scontent.xx.fbcdn.net/")


def test_location() -> None:
    msg = one_message("location")
    assert msg.location is not None and msg.text == ""
    assert (msg.location.lat, msg.location.lon, msg.location.title) == (-6.225014, 106.900447, "Siti's Location")
    assert msg.key == "messenger:mid.1474589194175:ff914a4bb4cbade393"


def test_quick_reply() -> None:
    msg = one_message("quick_reply")
    assert msg.text == "sudah"  # the payload, not the title shown: read as if typed, like a button press


def test_reply_to() -> None:
    msg = one_message("reply_to")
    assert msg.reply_to == "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU" and msg.text.startswith("Airnya sudah")


def test_command_status() -> None:
    msg = one_message("command_status")
    assert msg.command == "/status" and msg.text == "/status JKT-2025-000123"


def test_postback() -> None:
    msg = one_message("postback")
    assert msg.text == "/lapor banjir" and msg.command == "/lapor"
    assert msg.key.startswith("messenger:m_Pb2") and msg.provider_message_id == msg.key.removeprefix("messenger:")
    assert msg.address.chat_id == PSID and msg.address.bot == PAGE


def test_postback_no_mid() -> None:
    msg = one_message("postback_no_mid")
    assert msg.text == "GET_STARTED" and msg.provider_message_id is None
    assert msg.key.startswith("messenger:postback:") and PSID not in msg.key  # keys are logged: no PSID in them
    assert one_message("postback_no_mid").key == msg.key  # a redelivery makes the same key


def test_echo() -> None:
    skip = one_skip("echo", "ignored")
    assert skip.reason == "our own message (echo)" and skip.key.startswith("messenger:m_Ec1")


def test_delivery() -> None:
    assert one_skip("delivery", "ignored").reason == "delivery receipt"  # kept for the record; receipts() applies it
    named, chat = receipts(fixture("messenger", "delivery"))
    watermark = datetime.fromtimestamp(1735801239.5, timezone.utc)
    # The mid Meta names, and every reply to this person up to the watermark; "delivered by" the watermark (a
    # delivery event has no time of its own).
    assert named == Receipt(provider_id="m_Ec1hO3eC5hO7eC9hO1eC3hO5eC7hO9eC1hO3eC5hO7eC9hO1eC3hO5eC7hO9eC1hO3eC5h",
                            status="delivered", at=watermark)
    assert chat == Receipt(chat_key=f"messenger:{PAGE}:{PSID}", up_to=watermark + timedelta(microseconds=999),
                           status="delivered", at=watermark)  # to the end of the watermark's millisecond


def test_read() -> None:
    assert one_skip("read", "ignored").reason == "read receipt"
    [chat] = receipts(fixture("messenger", "read"))
    assert chat == Receipt(chat_key=f"messenger:{PAGE}:{PSID}", status="read",
                           up_to=datetime.fromtimestamp(1735801240.000999, timezone.utc),  # up to the watermark,
                           at=datetime.fromtimestamp(1735801240.463, timezone.utc))  # at the event's time


def test_malformed_delivery() -> None:
    assert one_skip("malformed_delivery", "rejected").reason == "delivery has no watermark (milliseconds since the epoch)"
    assert receipts(fixture("messenger", "malformed_delivery")) == []


def test_only_delivery_and_read_events_are_receipts() -> None:
    names = ("text_message", "quick_reply", "echo", "postback", "reaction", "standby", "instagram_object",
             "malformed_entry", "batch_two_senders")
    assert [receipts(fixture("messenger", name)) for name in names] == [[]] * len(names)
    assert receipts(["page"]) == [] and receipts({"object": "page", "entry": [{"messaging": "x"}]}) == []


@pytest.mark.parametrize("fields", [{}, {"provider_id": "m_1", "chat_key": "messenger:1:2", "up_to": NOW},
                                    {"chat_key": "messenger:1:2"},
                                    {"chat_key": "messenger:1:2", "up_to": NOW, "status": "failed"}],
                         ids=["neither", "both", "chat-without-watermark", "chat-failed"])
def test_a_receipt_names_one_reply_or_one_chat_up_to_a_time(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Receipt.model_validate({"status": "delivered", "at": NOW, **fields})


def test_sticker() -> None:
    assert one_skip("sticker", "ignored").reason == "unsupported message content: sticker"


def test_video() -> None:
    assert one_skip("video", "ignored").reason == "unsupported message content: video"


def test_reaction() -> None:
    assert one_skip("reaction", "ignored").reason == "unsupported messaging event: reaction"


def test_batch_two_senders() -> None:
    first, second = parse("batch_two_senders")
    assert isinstance(first, Message) and isinstance(second, Message)
    assert first.address.chat_id == PSID and second.address.chat_id == "6987654321098765"
    assert first.key != second.key and "Pasar Minggu" in first.text


def test_standby() -> None:
    assert one_skip("standby", "ignored").reason == "entry carries standby, not messaging"


def test_instagram_object() -> None:
    assert "not 'page'" in one_skip("instagram_object", "ignored").reason


def test_malformed_no_mid() -> None:
    assert one_skip("malformed_no_mid", "rejected").reason == "message has no mid"


def test_malformed_location() -> None:
    assert one_skip("malformed_location", "rejected").reason.startswith("message: ValueError")


def test_malformed_entry() -> None:
    assert "entry" in one_skip("malformed_entry", "rejected").reason


def test_not_an_object_is_rejected() -> None:
    [skip] = parse_payload(["page"], NOW)
    assert isinstance(skip, Skipped) and skip.status == "rejected"
