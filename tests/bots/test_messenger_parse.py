"""One test per Messenger fixture (tests/fixtures/messenger: real webhook shapes, see its README): what
parse_payload makes of each POST body."""
from __future__ import annotations

from datetime import datetime, timezone

from bots.messenger.parse import parse_payload
from ingest.intake import Skipped
from ingest.message import Message
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
    assert one_skip("delivery", "ignored").reason == "delivery receipt"


def test_read() -> None:
    assert one_skip("read", "ignored").reason == "read receipt"


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
