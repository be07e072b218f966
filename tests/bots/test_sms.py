"""The SMS channel's sender against a fake gateway on loopback speaking Twilio's and Vonage's send protocols (a
text, error mapping, a numbered menu kept whole, a delivery-status callback asked for), phone numbers masked in the
logs, and the channel as the hub sees it (its section, status lines and warnings, its sender built by the
registry). The inbound webhook: test_sms_webhook.py; long SMS in parts: test_sms_concat.py; the splitting:
test_sms_segments.py; a whole conversation: test_sms_conversation.py.

The fake's send protocols: tests/fakes/sms_gateway.py."""
from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

import bots
from bots import registry
from bots.errors import PermanentError, RateLimited, TransientError
from bots.sms import CHANNEL, segments
from bots.sms.config import SmsSettings
from bots.sms.send import SmsSender
from hub import settings as hub_settings
from ingest.message import Address
from router.replies import with_menu
from tests.fakes.sms_gateway import (ACCOUNT_SID, API_KEY, API_SECRET, AUTH_TOKEN, PASSWORD_ENV, SECRET, SECRET_ENV,
                                     USER_ENV, FakeSmsGateway, section, twilio_error)

CITIZEN, SHORT_NUMBER = "+6281298765432", "+622150851708"


# --- fixtures ------------------------------------------------------------------------------------------------



@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)


@pytest.fixture
def vonage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    monkeypatch.setenv(USER_ENV, API_KEY)
    monkeypatch.setenv(PASSWORD_ENV, API_SECRET)


# --- the sender against the fake gateway ---------------------------------------------------------------------

TO = Address(channel="sms", chat_id=CITIZEN, bot=SHORT_NUMBER)


async def test_twilio_text_is_sent_from_the_number_written_to(gateway: FakeSmsGateway, twilio_env: None,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    sender = SmsSender(section("twilio", gateway))
    caplog.set_level(logging.INFO)
    sid = await sender.send(TO, "Laporan diterima. Nomor tiket JKT-0042.", {"language": "id"})
    assert sid.startswith("SM") and len(sid) == 34
    assert gateway.sent == [{"preset": "twilio", "to": CITIZEN, "from": SHORT_NUMBER,
                             "text": "Laporan diterima. Nomor tiket JKT-0042."}]
    assert CITIZEN not in caplog.text and "432" in caplog.text
    assert await sender.send(TO, "  ", {"clear_buttons": "SM1"}) == "" and len(gateway.sent) == 1  # nothing to say


async def test_the_configured_number_when_the_address_names_none(gateway: FakeSmsGateway, twilio_env: None) -> None:
    await SmsSender(section("twilio", gateway, number="1708")).send(Address(channel="sms", chat_id=CITIZEN), "Halo")
    assert gateway.sent[-1]["from"] == "1708"
    with pytest.raises(PermanentError, match="no number to send from"):
        await SmsSender(section("twilio", gateway)).send(Address(channel="sms", chat_id=CITIZEN), "Halo")


async def test_vonage_json_marks_unicode_and_returns_the_message_id(gateway: FakeSmsGateway, vonage_env: None) -> None:
    sender = SmsSender(section("vonage", gateway))
    to = Address(channel="sms", chat_id="6281311223344", bot="622150851708")
    message_id = await sender.send(to, "Terima kasih 🙏 laporan Anda kami terima.")
    assert message_id.startswith("0C")
    assert gateway.sent[-1] == {"preset": "vonage", "to": "6281311223344", "from": "622150851708",
                                "text": "Terima kasih 🙏 laporan Anda kami terima.", "type": "unicode"}
    await sender.send(to, "Laporan diterima.")
    assert gateway.sent[-1]["type"] == "text"  # GSM-7: no type, Vonage's default


async def test_a_numbered_menu_survives_the_cut_of_a_long_question(gateway: FakeSmsGateway, twilio_env: None) -> None:
    extras = {"buttons": [[{"label": "Sudah", "value": "ya"}, {"label": "Belum", "value": "tidak"}]], "language": "id"}
    question = "Petugas melaporkan genangan di Jl. Jatinegara Barat sudah surut. " * 12 + "Apakah benar sudah surut?"
    text = with_menu(question, extras, TO)  # what the outbox sends a channel without buttons
    await SmsSender(section("twilio", gateway, max_parts=2)).send(TO, text, extras)
    sent = gateway.sent[-1]["text"]
    assert sent.endswith("...\n\nBalas dengan angka pilihan Anda:\n1. Sudah\n2. Belum")
    assert segments.length(sent) <= 2 * 153


async def test_a_long_reply_goes_as_one_concatenated_request_cut_to_the_cap(gateway: FakeSmsGateway,
                                                                             twilio_env: None) -> None:
    text = "Petugas sedang menuju lokasi banjir di Kampung Melayu. " * 30
    await SmsSender(section("twilio", gateway, max_parts=3)).send(TO, text)
    [sent] = gateway.sent
    assert sent["text"].endswith("...") and 2 * 153 < segments.length(sent["text"]) <= 3 * 153


async def test_separate_parts_are_sent_in_order_and_a_retry_sends_only_the_rest(gateway: FakeSmsGateway,
                                                                                 twilio_env: None) -> None:
    sender = SmsSender(section("twilio", gateway, concatenate=False, max_parts=3))
    text = " ".join(f"langkah{i}" for i in range(45))  # about 400 characters: 3 parts of 160
    gateway.fail_next(503, twilio_error(503, 20500, "Internal Server Error"))
    with pytest.raises(TransientError):
        await sender.send(TO, text)
    # The first request failed: nothing went. Now the second part fails once the first has gone.
    first = await _send_failing_second(gateway, sender, text)
    assert first.startswith("SM")
    texts = [s["text"] for s in gateway.sent]
    assert len(texts) == 3 and " ".join(texts) == text  # part 1 once, then parts 2 and 3 on the retry
    assert all(segments.length(t) <= 160 for t in texts)


async def _send_failing_second(gateway: FakeSmsGateway, sender: SmsSender, text: str) -> str:
    real = sender._post
    calls = 0

    async def flaky(*args: Any) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise TransientError("sms: gateway unreachable: simulated")
        return await real(*args)

    sender._post = flaky  # type: ignore[method-assign,assignment]
    with pytest.raises(TransientError):
        await sender.send(TO, text)
    sender._post = real  # type: ignore[method-assign]
    return await sender.send(TO, text)


@pytest.mark.parametrize("status, body, headers, error, detail", [
    (429, twilio_error(429, 20429, "Too Many Requests"), {"Retry-After": "7"}, RateLimited, "20429"),
    (429, "slow down", {}, RateLimited, "slow down"),
    (500, twilio_error(500, 20500, "Internal Server Error"), {}, TransientError, "20500"),
    (503, "<html>Service Unavailable</html>", {}, TransientError, "503"),
    (400, twilio_error(400, 21211, f"The 'To' number {CITIZEN} is not a valid phone number."), {}, PermanentError, "21211"),
    (401, twilio_error(401, 20003, "Authenticate"), {}, PermanentError, "20003"),
])
async def test_gateway_errors_are_mapped(gateway: FakeSmsGateway, twilio_env: None, status: int, body: Any,
                                         headers: dict[str, str], error: type[Exception], detail: str) -> None:
    gateway.fail_next(status, body, headers)
    with pytest.raises(error) as caught:
        await SmsSender(section("twilio", gateway)).send(TO, "Laporan diterima.")
    assert detail in str(caught.value) and CITIZEN not in str(caught.value)  # the outbox logs and keeps it
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == (7.0 if headers else 5.0)


async def test_wrong_credentials_are_permanent(gateway: FakeSmsGateway, twilio_env: None,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PermanentError, match="20003"):
        await SmsSender(section("twilio", gateway)).send(TO, "Halo")
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(PermanentError, match="no gateway credentials"):
        await SmsSender(section("twilio", gateway)).send(TO, "Halo")


async def test_vonage_statuses_in_a_200_are_mapped(gateway: FakeSmsGateway, vonage_env: None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sender = SmsSender(section("vonage", gateway))
    to = Address(channel="sms", chat_id="6281311223344", bot="1708")
    gateway.fail_next(200, {"message-count": "1", "messages": [{"status": "1", "error-text": "Throughput Rate Exceeded"}]})
    with pytest.raises(RateLimited):
        await sender.send(to, "Halo")
    gateway.fail_next(200, {"message-count": "1", "messages": [{"status": "5", "error-text": "Internal Error"}]})
    with pytest.raises(TransientError):
        await sender.send(to, "Halo")
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(PermanentError, match="Bad Credentials"):
        await SmsSender(section("vonage", gateway)).send(to, "Halo")


async def test_an_unreachable_gateway_is_transient(twilio_env: None) -> None:
    sender = SmsSender({**section("twilio"), "send_url": "http://127.0.0.1:9/2010-04-01/Messages.json", "timeout": 2})
    with pytest.raises(TransientError, match="unreachable"):
        await sender.send(TO, "Halo")


# --- the channel as the hub sees it --------------------------------------------------------------------------

@pytest.fixture
def with_sms(monkeypatch: pytest.MonkeyPatch) -> type[hub_settings.CoreSettings]:
    if "sms" not in bots.BY_NAME:  # until bots/__init__.py names it (then it is there already)
        monkeypatch.setattr(bots, "CHANNELS", (*bots.CHANNELS, CHANNEL))
        monkeypatch.setitem(bots.BY_NAME, "sms", CHANNEL)
    for name in (SECRET_ENV, USER_ENV, PASSWORD_ENV, "CROPHUB_SMS_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return hub_settings._with_channels()


def test_the_settings_model_picks_up_the_sms_section(with_sms: type[hub_settings.CoreSettings],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = with_sms.model_validate({"sms": section("vonage", max_parts=2, fields={"text": "message"})})
    sms = settings.channel("sms")
    assert isinstance(sms, SmsSettings) and sms.max_parts == 2 and sms.inbound_fields().text == "message"
    assert sms.inbound_fields().sender == "msisdn"  # the rest stay the preset's
    assert not sms.listens() and sms.serves()
    assert (sms.status() or "").startswith("sms: channel off: no webhook secret")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert (sms.status() or "").startswith("sms: channel off: no gateway credentials")
    monkeypatch.setenv(USER_ENV, API_KEY)
    monkeypatch.setenv(PASSWORD_ENV, API_SECRET)
    assert sms.status() is None
    default = with_sms.model_validate({}).channel("sms")
    assert isinstance(default, SmsSettings)
    assert default.preset == "twilio" and default.inbound.path == "/sms/inbound"
    assert default.url() == "https://api.twilio.com/2010-04-01/Accounts//Messages.json"
    with pytest.raises(ValidationError, match="sms.max_part"):
        with_sms.model_validate({"sms": {"max_part": 2}})
    with pytest.raises(ValidationError, match="sms.preset"):
        with_sms.model_validate({"sms": {"preset": "nexmo"}})


async def test_the_registry_builds_its_sender_from_the_section(with_sms: type[hub_settings.CoreSettings], gateway: FakeSmsGateway,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)
    settings = with_sms.model_validate({"sms": section("twilio", gateway)})
    assert not registry.offers("sms", "buttons") and not registry.offers("sms", "locations")
    assert not registry.offers("sms", "locations")
    registry.configure({"sms": settings.channel("sms").sender_config()})
    try:
        sid = await registry.new("sms").send(TO, "Laporan diterima.")
    finally:
        registry.configure({})
    assert sid.startswith("SM") and gateway.sent[-1]["text"] == "Laporan diterima."


def test_the_twilio_preset_checks_twilios_signature_keyed_with_the_auth_token(
        with_sms: type[hub_settings.CoreSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    sms = with_sms.model_validate({"sms": section("twilio")}).channel("sms")
    assert isinstance(sms, SmsSettings)
    assert (sms.inbound.auth, sms.inbound.header) == ("twilio-signature", "X-Twilio-Signature")
    # Off until the account SID and the auth token are set, and the line says which variables to export.
    status = sms.status() or ""
    assert status.startswith("sms: channel off: no Twilio credentials") and USER_ENV in status and PASSWORD_ENV in status
    monkeypatch.setenv(USER_ENV, ACCOUNT_SID)
    monkeypatch.setenv(PASSWORD_ENV, AUTH_TOKEN)
    assert sms.status() is None and sms.inbound_key == AUTH_TOKEN  # no shared secret needed
    [warning] = sms.warnings()
    assert "inbound.public_url is not set" in warning and "/sms/inbound" in warning
    public = with_sms.model_validate({"sms": section("twilio", inbound={"public_url": "https://lapor.example/sms/inbound"})})
    assert public.channel("sms").warnings() == []
    # A deployment that kept a proxy adding the shared secret says so, and is told Twilio does not send it.
    kept = with_sms.model_validate({"sms": section("twilio", inbound={"auth": "secret"})}).channel("sms")
    assert isinstance(kept, SmsSettings) and kept.inbound.header == "X-Crophub-Sms-Secret"
    assert (kept.status() or "").startswith("sms: channel off: no webhook secret")
    assert "Twilio itself sends no X-Crophub-Sms-Secret" in kept.warnings()[0]
    vonage = with_sms.model_validate({"sms": section("vonage")}).channel("sms")
    assert isinstance(vonage, SmsSettings) and vonage.inbound.auth == "secret"
    assert "Vonage itself sends no X-Crophub-Sms-Secret" in vonage.warnings()[0]
    with pytest.raises(ValidationError, match="sms.inbound.auth"):
        with_sms.model_validate({"sms": {"inbound": {"auth": "basic"}}})


async def test_twilio_is_asked_for_delivery_reports_at_the_public_url(gateway: FakeSmsGateway, twilio_env: None) -> None:
    url = "https://lapor.example.go.id/sms/inbound"
    await SmsSender(section("twilio", gateway, inbound={"public_url": url})).send(TO, "Laporan diterima.")
    assert gateway.sent[-1]["status_callback"] == url
    await SmsSender(section("twilio", gateway, inbound={"public_url": url}, delivery_reports=False)).send(TO, "Halo")
    await SmsSender(section("twilio", gateway)).send(TO, "Halo")  # no public URL: nowhere to ask for them
    assert "status_callback" not in gateway.sent[-1] and "status_callback" not in gateway.sent[-2]
