"""One test per WhatsApp fixture: what parse_payload makes of each webhook notification."""
from __future__ import annotations

from datetime import datetime, timezone

from bots.whatsapp.parse import parse_payload
from ingest.intake import Skipped
from ingest.message import Message
from tests.conftest import fixture

NUMBER = "106540352242922"  # the business phone number id that received them
SITI = "6281234567890"
NOW = datetime(2025, 11, 25, 2, 0, 5, tzinfo=timezone.utc)
OURS_ACK = "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEjQ2QkI4RjlBMkU3QzFGMEQ1OQA="
OURS_FIXED = "wamid.HBgNNjI4MTIzNDU2Nzg5MBUCABEYEkU1QjcyQzlGNDFBMDNEOEI2MgA="


def parse(name: str) -> list[Message | Skipped]:
    return parse_payload(fixture("whatsapp", name), NOW)


def one(name: str) -> Message:
    [msg] = parse(name)
    assert isinstance(msg, Message), msg
    return msg


def skipped(name: str) -> Skipped:
    [item] = parse(name)
    assert isinstance(item, Skipped), item
    return item


def test_text_message() -> None:
    msg = one("text_message")
    wamid = fixture("whatsapp", "text_message")["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    assert msg.channel == "whatsapp" and msg.key == "whatsapp:" + wamid
    assert msg.text.startswith("Min, banjir setinggi lutut")
    assert msg.sender.id == SITI and msg.sender.name == "Siti Rahma" and not msg.sender.is_bot
    assert msg.address.channel == "whatsapp" and msg.address.chat_id == SITI and msg.address.bot == NUMBER
    assert msg.address.reply_to == wamid and msg.provider_message_id == wamid
    assert msg.reply_to is None and msg.command is None and msg.media == [] and msg.location is None
    assert msg.sent_at == datetime.fromtimestamp(1764036000, timezone.utc) and msg.received_at == NOW
    # The raw payload is a notification of its own, which parses again to the same message.
    assert parse_payload(msg.raw, NOW) == [msg]


def test_a_command_is_read_as_one() -> None:
    msg = one("command_status")
    assert msg.command == "/status" and msg.text == "/STATUS JKT-2026-000123"


def test_image_with_caption() -> None:
    msg = one("image_with_caption")
    assert msg.text.startswith("Tumpukan sampah")
    [photo] = msg.media
    assert (photo.kind, photo.file_id, photo.mime_type) == ("photo", "1103884627895123", "image/jpeg")


def test_image_without_caption() -> None:
    msg = one("image_without_caption")
    assert msg.text == "" and [m.file_id for m in msg.media] == ["1998267345112840"]


def test_a_dropped_pin() -> None:
    msg = one("location_pin")
    assert msg.location is not None and (msg.location.lat, msg.location.lon) == (-6.2297465, 106.9110283)
    assert msg.location.title is None and msg.text == "" and msg.location.accuracy_m is None


def test_a_place_picked_from_the_list() -> None:
    msg = one("location_place")
    assert msg.location is not None and msg.location.lat == -6.2318902
    assert msg.location.title == "Masjid Al-Ikhlas, Jl. Pahlawan Revolusi No.12, Pondok Bambu, Duren Sawit, Jakarta Timur"


def test_a_reply_to_our_message_names_it() -> None:
    msg = one("reply_to_message")
    assert msg.reply_to == OURS_ACK and msg.text == "airnya sudah sampai pinggang sekarang"


def test_a_button_press_is_read_as_its_value_typed_in_reply() -> None:
    msg = one("button_reply")
    assert msg.text == "/beres JKT-2026-000123" and msg.command == "/beres"
    assert msg.reply_to == OURS_FIXED and msg.address.chat_id == SITI and msg.address.callback_id is None


def test_a_pick_from_a_list_is_read_as_its_value_typed_in_reply() -> None:
    msg = one("list_reply")
    assert msg.text == "/kategori JKT-2026-000123 drainage" and msg.command == "/kategori"
    assert msg.reply_to == OURS_ACK


def test_a_template_button_is_ignored() -> None:
    item = skipped("template_button")
    assert item.status == "ignored" and item.reason == "unsupported message type: button"
    assert item.key.startswith("whatsapp:wamid.")


def test_a_sticker_is_ignored() -> None:
    item = skipped("sticker")
    assert item.status == "ignored" and item.reason == "unsupported message type: sticker"


def test_an_unsupported_message_is_ignored_with_its_error() -> None:
    item = skipped("unsupported")
    assert item.status == "ignored"
    assert item.reason == "unsupported message type: unsupported (131051 Message type unknown)"


def test_a_status_callback_is_ignored() -> None:
    item = skipped("status_sent")
    assert (item.channel, item.status, item.reason) == ("whatsapp", "ignored", "status callback")
    assert item.key == f"whatsapp:status:{OURS_ACK}:sent"
    assert item.raw["entry"][0]["changes"][0]["value"]["statuses"][0]["recipient_id"] == SITI


def test_a_failed_status_is_ignored_too_for_now() -> None:
    item = skipped("status_failed")
    assert item.status == "ignored" and item.reason == "status callback"
    assert item.key == f"whatsapp:status:{OURS_FIXED}:failed"


def test_a_batch_is_every_message_and_status_in_it() -> None:
    rudi, pin, read = parse("batch")
    assert isinstance(rudi, Message) and isinstance(pin, Message) and isinstance(read, Skipped)
    assert (rudi.sender.id, rudi.sender.name, rudi.address.chat_id) == ("6285712345678", "Rudi Hartono", "6285712345678")
    assert (pin.sender.id, pin.sender.name) == (SITI, "Siti Rahma") and pin.location is not None
    assert read.reason == "status callback" and read.key.endswith(":read")
    # Each keeps only its own message and its own sender's contact.
    value = rudi.raw["entry"][0]["changes"][0]["value"]
    assert [c["wa_id"] for c in value["contacts"]] == ["6285712345678"] and len(value["messages"]) == 1
    assert "statuses" not in value and value["metadata"]["phone_number_id"] == NUMBER


def test_a_change_of_another_field_is_ignored() -> None:
    item = skipped("account_update")
    assert item.status == "ignored" and item.reason == "unsupported field: account_update"
    assert item.key.startswith("sha256:")


def test_a_message_without_a_sender_is_rejected() -> None:
    item = skipped("malformed_no_sender")
    assert item.status == "rejected" and item.reason == "message has no sender (from)"
    assert item.key.startswith("whatsapp:wamid.")


def test_a_location_off_the_globe_is_rejected() -> None:
    item = skipped("malformed_location")
    assert item.status == "rejected" and item.reason.startswith("location: lat: ")


def test_what_is_no_notification_is_rejected_whole() -> None:
    [item] = parse_payload([1, 2], NOW)
    assert isinstance(item, Skipped) and item.status == "rejected" and item.reason == "notification is a list, not a JSON object"
    [item] = parse_payload({"object": "whatsapp_business_account", "entry": "x"}, NOW)
    assert isinstance(item, Skipped) and item.reason == "entry is missing or not a list"
    [item] = parse_payload({"object": "page", "entry": []}, NOW)
    assert isinstance(item, Skipped) and item.status == "ignored" and "object 'page'" in item.reason
    no_number = fixture("whatsapp", "text_message")
    del no_number["entry"][0]["changes"][0]["value"]["metadata"]
    [item] = parse_payload(no_number, NOW)
    assert isinstance(item, Skipped) and item.reason == "value has no metadata.phone_number_id"
