"""One test per SMS fixture (tests/fixtures/sms: Twilio's inbound form fields and Vonage's inbound JSON, as their
documentation shows them): what bots.sms.parse makes of each payload with its preset's field names."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from bots.sms.config import PRESET_FIELDS, SmsSettings
from bots.sms.parse import masked, parse, receipts
from ingest.intake import Skipped
from ingest.message import Message, Receipt
from tests.conftest import FIXTURES, fixture

NOW = datetime(2025, 2, 3, 1, 16, tzinfo=timezone.utc)


def read(name: str) -> Message | Skipped:
    """The fixture parsed with the field names of the preset its name starts with."""
    return parse(fixture("sms", name), PRESET_FIELDS[name.split("_", 1)[0]], NOW)


def test_every_fixture_has_a_test() -> None:
    names = {p.stem for p in (FIXTURES / "sms").glob("*.json")}
    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    assert names <= tested, f"fixtures without a test: {sorted(names - tested)}"


def test_twilio_text() -> None:
    msg = read("twilio_text")
    assert isinstance(msg, Message)
    assert msg.channel == "sms" and msg.key == "sms:SM5f3a9c2e7b1d4e60a8c9f0b1d2e3f4a5"
    assert msg.text.startswith("Banjir 50cm di Jl. Jatinegara Barat")
    assert msg.sender.id == "+6281298765432"
    assert msg.address.chat_id == "+6281298765432" and msg.address.bot == "+622150851708"
    assert msg.address.channel == "sms" and msg.provider_message_id == "SM5f3a9c2e7b1d4e60a8c9f0b1d2e3f4a5"
    assert msg.sent_at is None and msg.received_at == NOW  # Twilio's webhook names no time
    assert msg.command is None and msg.location is None and msg.media == []
    assert msg.raw["AccountSid"].startswith("AC")


def test_twilio_empty_body() -> None:
    skipped = read("twilio_empty_body")
    assert isinstance(skipped, Skipped)
    assert (skipped.status, skipped.reason) == ("ignored", "empty message")
    assert skipped.key == "sms:SM0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"


def test_twilio_status_callback() -> None:
    # Kept for the record, one row per status of the reply; what it says goes on the reply's outbox row.
    skipped = read("twilio_status_callback")
    assert isinstance(skipped, Skipped) and skipped.status == "ignored"
    assert skipped.reason == "delivery report of a sent SMS"
    assert skipped.key == "sms:status:SM9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b:delivered"
    assert receipts(fixture("sms", "twilio_status_callback"), NOW) == [
        Receipt(provider_id="SM9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b", status="delivered", at=NOW)]
    failed = {**fixture("sms", "twilio_status_callback"), "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert receipts(failed, NOW)[0].error == "undelivered (error 30003)"
    assert receipts({**failed, "MessageStatus": "sent"}, NOW) == []  # the send call said so already
    assert receipts({**failed, "MessageSid": ""}, NOW) == []
    assert receipts(fixture("sms", "twilio_text"), NOW) == []  # a citizen's message reports nothing


def test_twilio_missing_from() -> None:
    skipped = read("twilio_missing_from")
    assert isinstance(skipped, Skipped) and skipped.status == "rejected"
    assert skipped.key == "sms:SM1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d" and "From" in skipped.reason


def test_vonage_text() -> None:
    msg = read("vonage_text")
    assert isinstance(msg, Message)
    assert msg.key == "sms:0A00000012AB34CD" and msg.text.startswith("Sampah menumpuk di depan Pasar Minggu")
    assert msg.sender.id == "6281311223344" and msg.address.chat_id == "6281311223344"
    assert msg.address.bot == "622150851708"
    assert msg.sent_at == datetime(2025, 2, 3, 1, 15, 42, tzinfo=timezone.utc)  # Vonage's time is UTC


def test_vonage_unicode() -> None:
    msg = read("vonage_unicode")
    assert isinstance(msg, Message)
    assert "🌳" in msg.text and msg.key == "sms:0A00000012AB34CE"


def test_vonage_concat_part() -> None:
    # A part of a long SMS comes as its own message with its own id; bots/sms/concat.py holds it until the rest
    # has come (test_sms_concat.py).
    msg = read("vonage_concat_part")
    assert isinstance(msg, Message)
    assert msg.key == "sms:0A00000012AB34D0" and msg.text.endswith("Mohon")
    assert msg.raw["concat-total"] == "2"


def test_vonage_binary() -> None:
    skipped = read("vonage_binary")
    assert isinstance(skipped, Skipped) and skipped.status == "ignored"
    assert skipped.reason.startswith("binary SMS")


def test_vonage_delivery_receipt() -> None:
    skipped = read("vonage_delivery_receipt")
    assert isinstance(skipped, Skipped) and skipped.status == "ignored" and "delivery report" in skipped.reason
    assert skipped.key == "sms:status:0C00000034EF56AB:delivered"
    sent_at = datetime(2025, 2, 3, 1, 15, 50, tzinfo=timezone.utc)  # its message-timestamp, in UTC
    assert receipts(fixture("sms", "vonage_delivery_receipt"), NOW) == [
        Receipt(provider_id="0C00000034EF56AB", status="delivered", at=sent_at)]
    for status, code, error in (("failed", "99", "failed (error 99)"), ("rejected", "6", "rejected (error 6)"),
                                ("expired", "0", "expired")):
        [receipt] = receipts({**fixture("sms", "vonage_delivery_receipt"), "status": status, "err-code": code}, NOW)
        assert (receipt.status, receipt.error) == ("failed", error)
    for status in ("accepted", "buffered", "unknown"):  # on its way, or nobody knows: nothing to keep
        assert receipts({**fixture("sms", "vonage_delivery_receipt"), "status": status}, NOW) == []
    no_id = {k: v for k, v in fixture("sms", "vonage_delivery_receipt").items() if k != "messageId"}
    rejected = read_raw(no_id)
    assert isinstance(rejected, Skipped) and rejected.status == "rejected" and "messageId" in rejected.reason


def read_raw(raw: dict[str, str]) -> Message | Skipped:
    return parse(raw, PRESET_FIELDS["vonage"], NOW)


def test_vonage_missing_type() -> None:
    skipped = read("vonage_missing_type")
    assert isinstance(skipped, Skipped) and skipped.status == "rejected" and "type" in skipped.reason


def test_not_an_object_is_rejected_with_a_content_key() -> None:
    skipped = parse(["MessageSid"], PRESET_FIELDS["twilio"], NOW)
    assert isinstance(skipped, Skipped) and skipped.status == "rejected" and skipped.key.startswith("sha256:")


def test_missing_message_id_is_rejected() -> None:
    raw = {k: v for k, v in fixture("sms", "vonage_text").items() if k != "messageId"}
    skipped = parse(raw, PRESET_FIELDS["vonage"], NOW)
    assert isinstance(skipped, Skipped) and skipped.status == "rejected" and "messageId" in skipped.reason


def test_configured_field_names_read_another_gateway() -> None:
    settings = SmsSettings.model_validate({"preset": "vonage", "fields": {"sender": "from", "text": "message",
                                                                         "received_at": "receivedAt"}})
    raw = {"messageId": "77", "from": "6281311223344", "to": "1708", "message": "Lampu jalan mati", "type": "text",
           "receivedAt": "2025-02-03T08:00:00+07:00"}
    msg = parse(raw, settings.inbound_fields(), NOW)
    assert isinstance(msg, Message) and msg.key == "sms:77" and msg.text == "Lampu jalan mati"
    assert msg.sender.id == "6281311223344" and msg.address.bot == "1708"
    assert msg.sent_at == datetime(2025, 2, 3, 1, 0, tzinfo=timezone.utc)


def test_masked_keeps_the_last_three_digits() -> None:
    assert masked("+6281298765432") == "***********432" and masked(None) == "-" and masked("12") == "12"


def test_fixture_folder_documents_its_sources() -> None:
    readme = (Path(FIXTURES) / "sms" / "README.md").read_text(encoding="utf-8")
    assert "twilio.com/docs" in readme and "developer.vonage.com" in readme
