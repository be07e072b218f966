"""The WhatsApp sender against the fake Cloud API on loopback: what it posts for text, buttons, lists, a
share-location request and photos, how Graph API errors reach the outbox, and how it fetches a citizen's photo."""
from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from bots.errors import PermanentError, RateLimited, TransientError
from bots.whatsapp.config import WhatsAppSettings
from bots.whatsapp.send import WhatsAppSender
from ingest.message import Address
from tests.fakes.whatsapp_api import NUMBER, TOKEN, VERSION, FakeWhatsAppAPI, error_body

SITI = Address(channel="whatsapp", chat_id="6281234567890", bot=NUMBER, reply_to="wamid.IN000000000001")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
GIF = b"GIF89a" + bytes(200)


@pytest.fixture
async def sender(wa_api: FakeWhatsAppAPI, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WhatsAppSender]:
    built = WhatsAppSender(WhatsAppSettings(**wa_api.config(monkeypatch)).sender_config())
    yield built
    await built.close()


def buttons(*pairs: tuple[str, str]) -> list[list[dict[str, str]]]:
    return [[{"label": label, "value": value}] for label, value in pairs]


async def test_a_text_goes_from_the_number_that_was_written_to(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wamid = await sender.send(SITI, "Terima kasih, laporan Anda sudah kami terima sebagai tiket JKT-2026-000123.")
    [sent] = wa_api.sent
    assert wamid == sent["id"] and wamid.startswith("wamid.")
    assert (sent["number"], sent["to"], sent["type"], sent["messaging_product"]) == (NUMBER, SITI.chat_id, "text", "whatsapp")
    assert sent["text"] == {"preview_url": False, "body": "Terima kasih, laporan Anda sudah kami terima sebagai tiket "
                                                         "JKT-2026-000123."}
    [call] = wa_api.calls
    assert call.path == f"/{VERSION}/{NUMBER}/messages" and call.auth == f"Bearer {TOKEN}"


async def test_a_row_without_text_sends_nothing(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    assert await sender.send(SITI, "", {"toast": "Terima kasih", "clear_buttons": "wamid.OUT1"}) == ""
    assert wa_api.calls == []


async def test_an_address_without_its_number_is_refused(sender: WhatsAppSender) -> None:
    with pytest.raises(PermanentError, match="no business phone number id"):
        await sender.send(SITI.model_copy(update={"bot": None}), "halo")


async def test_up_to_three_short_buttons_are_reply_buttons(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    await sender.send(SITI, "Apakah sudah beres?", {"buttons": [[{"label": "Sudah beres ✅", "value": "/beres JKT-2026-000123"},
                                                                {"label": "Belum ❌", "value": "/belum JKT-2026-000123"}]]})
    [sent] = wa_api.sent
    assert sent["type"] == "interactive" and sent["interactive"]["type"] == "button"
    assert sent["interactive"]["body"] == {"text": "Apakah sudah beres?"}
    assert sent["interactive"]["action"]["buttons"] == [
        {"type": "reply", "reply": {"id": "/beres JKT-2026-000123", "title": "Sudah beres ✅"}},
        {"type": "reply", "reply": {"id": "/belum JKT-2026-000123", "title": "Belum ❌"}}]


async def test_four_buttons_are_a_list(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    card = buttons(("Ambil", "/ambil JKT-1"), ("Sedang dikerjakan", "/proses JKT-1"), ("Selesai (kirim foto)", "/selesai JKT-1"),
                   ("Tolak", "/tolak JKT-1"))
    await sender.send(SITI, "Tiket JKT-1", {"buttons": card})
    await sender.send(SITI, "Ticket JKT-1", {"buttons": card, "language": "en"})
    first, second = wa_api.sent
    assert first["interactive"]["type"] == "list" and first["interactive"]["action"]["button"] == "Pilih"
    assert second["interactive"]["action"]["button"] == "Choose"
    [section] = first["interactive"]["action"]["sections"]
    assert section["rows"] == [
        {"id": "/ambil JKT-1", "title": "Ambil"}, {"id": "/proses JKT-1", "title": "Sedang dikerjakan"},
        {"id": "/selesai JKT-1", "title": "Selesai (kirim foto)"}, {"id": "/tolak JKT-1", "title": "Tolak"}]


async def test_labels_too_long_for_a_button_are_a_list_whose_rows_keep_the_whole_label(
        sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    await sender.send(SITI, "Kategori laporan Anda: joki 3-in-1. Benar?", {"buttons": buttons(
        ("✅ joki 3-in-1 / ganjil-genap", "/kategori JKT-1 jockey_3in1"),
        ("lalu lintas / kemacetan", "/kategori JKT-1 traffic")), "language": "id", "menu": True})
    [sent] = wa_api.sent
    first, second = sent["interactive"]["action"]["sections"][0]["rows"]
    assert first == {"id": "/kategori JKT-1 jockey_3in1", "title": "✅ joki 3-in-1 / ganjil-…",
                     "description": "✅ joki 3-in-1 / ganjil-genap"}
    assert second == {"id": "/kategori JKT-1 traffic", "title": "lalu lintas / kemacetan"}


async def test_a_long_text_with_buttons_is_a_list_whose_body_holds_it(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    text = "Laporan " * 200  # 1600 characters: more than reply buttons' body takes
    await sender.send(SITI, text, {"buttons": buttons(("Ya", "/ya"), ("Tidak", "/tidak"))})
    [sent] = wa_api.sent
    assert sent["interactive"]["type"] == "list" and sent["interactive"]["body"]["text"] == text


async def test_more_buttons_than_a_list_takes_are_numbered_in_the_text(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    many = buttons(*[(f"kategori {n}", f"/kategori JKT-1 c{n}") for n in range(1, 13)])
    await sender.send(SITI, "Pilih kategori.", {"buttons": many, "language": "en"})
    [sent] = wa_api.sent
    assert sent["type"] == "text"
    assert sent["text"]["body"].startswith("Pilih kategori.\n\nReply with the number of your choice:\n1. kategori 1\n")
    assert sent["text"]["body"].endswith("\n12. kategori 12")


async def test_a_question_of_place_carries_the_share_location_button(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    await sender.send(SITI, "Di mana lokasinya?", {"ask_location": "📍 Bagikan lokasi"})
    await sender.send(SITI, "Di mana? " + "x" * 1100, {"ask_location": "📍 Bagikan lokasi"})
    asked, long = wa_api.sent
    assert asked["interactive"] == {"type": "location_request_message", "body": {"text": "Di mana lokasinya?"},
                                    "action": {"name": "send_location"}}
    assert long["type"] == "text"  # too long for the request's body: the words go alone


async def test_a_photo_kept_here_is_uploaded_and_captioned(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wamid = await sender.send(SITI, "Sudah ditangani petugas.", {"photo": JPEG})
    [upload] = wa_api.uploads
    assert (upload["type"], upload["data"], upload["messaging_product"], upload["content_type"]) == (
        "image/jpeg", JPEG, "whatsapp", "image/jpeg")
    [sent] = wa_api.sent
    assert sent["type"] == "image" and sent["image"] == {"id": upload["id"], "caption": "Sudah ditangani petugas."}
    assert wamid == sent["id"]
    assert wa_api.calls[0].path == f"/{VERSION}/{NUMBER}/media"


async def test_a_photo_with_buttons_is_their_header(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    fixed = buttons(("Sudah beres ✅", "/beres X"), ("Belum ❌", "/belum X"))
    await sender.send(SITI, "Apakah sudah beres?", {"photo": "https://crop.example.go.id/foto/1.jpg", "buttons": fixed})
    [sent] = wa_api.sent
    assert sent["interactive"]["type"] == "button"
    assert sent["interactive"]["header"] == {"type": "image", "image": {"link": "https://crop.example.go.id/foto/1.jpg"}}
    assert wa_api.uploads == []


async def test_a_caption_too_long_goes_under_the_photo(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    text = "Penjelasan petugas. " * 60  # 1200 characters
    wamid = await sender.send(SITI, text, {"photo": PNG})
    photo, words = wa_api.sent
    assert photo["type"] == "image" and "caption" not in photo["image"] and wa_api.uploads[0]["type"] == "image/png"
    assert words["type"] == "text" and words["text"]["body"] == text and wamid == words["id"]


async def test_a_photo_a_citizen_sent_the_number_is_sent_again_through_an_upload(
        sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.hold("1103884627895123", JPEG)
    await sender.send(SITI, "Foto laporan Anda.", {"photo": "1103884627895123"})
    [upload] = wa_api.uploads
    assert upload["data"] == JPEG and wa_api.sent[0]["image"]["id"] == upload["id"]


@pytest.mark.parametrize("photo", [GIF, "no-such-media-id"], ids=["a GIF", "an unknown media id"])
async def test_a_photo_that_cannot_go_leaves_the_words_to_go_alone(
        sender: WhatsAppSender, wa_api: FakeWhatsAppAPI, photo: Any, caplog: pytest.LogCaptureFixture) -> None:
    await sender.send(SITI, "Sudah ditangani petugas.", {"photo": photo})
    [sent] = wa_api.sent
    assert sent["type"] == "text" and wa_api.uploads == [] and "sending the text without it" in caplog.text


async def test_a_refused_upload_leaves_the_words_to_go_alone(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.fail_next(400, error_body(131053, "Media upload error", "Unable to upload the media used in the message"),
                     on="/media")
    await sender.send(SITI, "Sudah ditangani petugas.", {"photo": JPEG})
    [sent] = wa_api.sent
    assert sent["type"] == "text"


async def test_a_refused_photo_message_leaves_the_words_to_go_alone(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.fail_next(400, error_body(131053, "Media upload error", "Media link could not be fetched"))
    wamid = await sender.send(SITI, "Sudah ditangani petugas.", {"photo": "https://crop.example.go.id/foto/1.jpg"})
    [sent] = wa_api.sent
    assert sent["type"] == "text" and wamid == sent["id"] and len(wa_api.calls) == 2


async def test_a_photo_outside_the_24_hour_window_is_not_tried_again_without_it(
        sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.fail_next(400, error_body(131047, "Re-engagement message"))
    with pytest.raises(PermanentError, match="24-hour"):
        await sender.send(SITI, "Apakah sudah beres?", {"photo": "https://crop.example.go.id/foto/1.jpg",
                                                         "buttons": buttons(("Sudah", "/beres X"), ("Belum", "/belum X"))})
    assert len(wa_api.calls) == 1 and wa_api.sent == []


@pytest.mark.parametrize("status, body, headers, wait", [
    (429, error_body(130429, "Rate limit hit"), {"Retry-After": "7"}, 7.0),
    (400, error_body(130429, "Rate limit hit", "Cloud API message throughput has been reached"), {}, 5.0),
    (400, error_body(131056, "(Business Account, Consumer Account) pair rate limit hit"), {}, 6.0),
    (400, error_body(80007, "Rate limit issues"), {}, 60.0),
    (429, b"Too Many Requests", {}, 30.0),
], ids=["429 with Retry-After", "throughput", "pair rate", "account rate", "a bare 429"])
async def test_rate_limits_ask_the_outbox_to_wait(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI, status: int,
                                                  body: Any, headers: dict[str, str], wait: float) -> None:
    wa_api.fail_next(status, body, headers=headers)
    with pytest.raises(RateLimited) as limited:
        await sender.send(SITI, "halo")
    assert limited.value.retry_after == wait and "by WhatsApp" in str(limited.value)


async def test_outside_the_24_hour_window_the_reply_is_refused_for_good_and_says_why(
        sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.fail_next(400, error_body(131047, "Re-engagement message", "Message failed to send because more than 24 hours "
                                     "have passed since the customer last replied to this number."))
    with pytest.raises(PermanentError, match="outside the 24-hour customer service window") as refused:
        await sender.send(SITI, "Tiket Anda sudah ditangani.")
    assert "error 131047" in str(refused.value) and "template" in str(refused.value)


@pytest.mark.parametrize("status, body", [
    (500, error_body(1, "An unknown error occurred")),
    (503, b"<html>Service Unavailable</html>"),
    (400, error_body(131000, "Something went wrong")),
    (400, error_body(2, "Service temporarily unavailable")),
], ids=["500", "503 not JSON", "something went wrong", "API service"])
async def test_server_trouble_is_transient(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI, status: int, body: Any) -> None:
    wa_api.fail_next(status, body)
    with pytest.raises(TransientError, match=f"whatsapp: HTTP {status}"):
        await sender.send(SITI, "halo")


@pytest.mark.parametrize("status, body, said", [
    (401, error_body(190, "Error validating access token"), "the access token was refused"),
    (400, error_body(100, "Invalid parameter", "Parameter value is not valid"), "error 100: (#100) Invalid parameter"),
    (400, error_body(131026, "Message undeliverable"), "error 131026"),
], ids=["expired token", "bad request", "undeliverable"])
async def test_refusals_are_permanent(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI, status: int, body: Any,
                                      said: str) -> None:
    wa_api.fail_next(status, body)
    with pytest.raises(PermanentError, match=said.replace("(", r"\(").replace(")", r"\)")):
        await sender.send(SITI, "halo")


async def test_a_server_that_does_not_answer_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROPHUB_TEST_WHATSAPP_TOKEN", TOKEN)
    sender = WhatsAppSender({"access_token_env": "CROPHUB_TEST_WHATSAPP_TOKEN", "graph_base_url": "http://127.0.0.1:9"})
    try:
        with pytest.raises(TransientError, match="whatsapp: ClientConnectorError"):
            await sender.send(SITI, "halo")
    finally:
        await sender.close()


async def test_no_access_token_is_said(wa_api: FakeWhatsAppAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    config = wa_api.config(monkeypatch)
    monkeypatch.delenv(config["access_token_env"])
    sender = WhatsAppSender(config)
    with pytest.raises(PermanentError, match="no access token \\(set CROPHUB_TEST_WHATSAPP_TOKEN\\)"):
        await sender.send(SITI, "halo")
    assert wa_api.calls == []


async def test_a_citizens_photo_is_downloaded_with_the_token(sender: WhatsAppSender, wa_api: FakeWhatsAppAPI) -> None:
    wa_api.hold("1103884627895123", JPEG)
    assert await sender.download("1103884627895123", 10_000) == JPEG
    info, file = wa_api.calls
    assert info.path == f"/{VERSION}/1103884627895123" and file.path == "/download/1103884627895123"
    assert info.auth == file.auth == f"Bearer {TOKEN}"
    with pytest.raises(PermanentError, match="over 100"):
        await sender.download("1103884627895123", 100)
    with pytest.raises(PermanentError, match="does not exist"):
        await sender.download("no-such-media", 10_000)


def test_the_section_reaches_the_sender_and_refuses_what_it_does_not_have() -> None:
    section = WhatsAppSettings(graph_base_url="http://127.0.0.1:9/graph/", api_version="v23.0", timeout=4.0,
                               connection_pool=3, access_token_env="CROPHUB_TEST_SECRET")
    sender = WhatsAppSender(section.sender_config())
    assert sender.base == "http://127.0.0.1:9/graph/v23.0"
    assert (sender.settings.timeout, sender.settings.connection_pool) == (4.0, 3)
    assert sender.settings.access_token_env == "CROPHUB_TEST_SECRET"
    with pytest.raises(ValueError, match="WhatsAppSettings: access_token: unknown key"):
        WhatsAppSender({**section.sender_config(), "access_token": "EAAG-secret"})
    with pytest.raises(ValueError, match="api_version: string should match pattern"):
        WhatsAppSender({"api_version": "21"})


async def test_the_dashboard_shows_a_photo_a_citizen_sent(wa_api: FakeWhatsAppAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    from bots import registry
    from store.media import MediaRef
    from web.media import Photos, servable

    wa_api.hold("1103884627895123", JPEG)
    ref = str(MediaRef.of("whatsapp", "1103884627895123", NUMBER))  # as the router stores a report's photo
    assert ref == f"whatsapp:file:{NUMBER}:1103884627895123" and servable(ref)
    registry.configure({"whatsapp": wa_api.config(monkeypatch)})
    photos = Photos(sessions=None, max_bytes=10_000)  # type: ignore[arg-type]  (a channel's file needs no database)
    try:
        assert await photos.get(ref) == (JPEG, "image/jpeg")
    finally:
        registry.configure({})
        await photos._senders["whatsapp"].close()  # type: ignore[attr-defined]


# --- the approved template, after the 24-hour window ---------------------------------------------------------------

@pytest.fixture
async def templated(wa_api: FakeWhatsAppAPI, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[WhatsAppSender]:
    config = wa_api.config(monkeypatch, window_template="crophub_kabar_laporan", window_template_language="id")
    built = WhatsAppSender(WhatsAppSettings(**config).sender_config())
    yield built
    await built.close()


async def test_a_notice_goes_as_the_approved_template_naming_the_ticket(templated: WhatsAppSender,
                                                                      wa_api: FakeWhatsAppAPI) -> None:
    wa_api.templates["crophub_kabar_laporan"] = ("id", 1)
    wa_api.closed.add(SITI.chat_id)  # only a template reaches her now
    assert templated.notifies_after_window
    wamid = await templated.send(SITI, "Ada kabar terbaru tentang laporan JKT-2026-000042 Anda.",
                                 {"notice": "JKT-2026-000042", "language": "id"})
    [sent] = wa_api.sent
    assert sent["id"] == wamid and sent["type"] == "template" and sent["to"] == SITI.chat_id
    assert sent["template"] == {"name": "crophub_kabar_laporan", "language": {"code": "id"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "JKT-2026-000042"}]}]}
    with pytest.raises(PermanentError, match="24-hour"):  # and anything else is refused by WhatsApp
        await templated.send(SITI, "Tiket Anda sudah ditangani.")


@pytest.mark.parametrize("approved", [{}, {"crophub_kabar_laporan": ("en_US", 1)}, {"crophub_kabar_laporan": ("id", 2)}],
                         ids=["unknown", "another language", "two parameters"])
async def test_a_template_whatsapp_does_not_take_is_refused_for_good_and_names_the_setting(
        templated: WhatsAppSender, wa_api: FakeWhatsAppAPI, approved: dict[str, tuple[str, int]]) -> None:
    wa_api.templates.update(approved)
    with pytest.raises(PermanentError, match="whatsapp.window_template") as refused:
        await templated.send(SITI, "Ada kabar terbaru.", {"notice": "JKT-2026-000042"})
    assert "error 132" in str(refused.value) and wa_api.sent == []


async def test_without_a_template_a_notice_is_refused_and_none_is_offered(sender: WhatsAppSender,
                                                                         wa_api: FakeWhatsAppAPI) -> None:
    assert not sender.notifies_after_window
    with pytest.raises(PermanentError, match="no whatsapp.window_template"):
        await sender.send(SITI, "Ada kabar terbaru.", {"notice": "JKT-2026-000042"})
    assert wa_api.calls == []


def test_a_template_name_whatsapp_would_not_take_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="window_template"):
        WhatsAppSettings(window_template="Kabar Laporan")
