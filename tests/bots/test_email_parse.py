"""One test per email fixture: what parse_email makes of each mail (tests/fixtures/email/*.eml)."""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bots.email.parse import parse_email, too_large
from bots.email.text import html_to_text, strip_quotes
from ingest.intake import Skipped
from ingest.message import Message

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"
ACCOUNT = "pengaduan@jakarta.go.id"
NOW = datetime(2025, 12, 1, 3, 0, tzinfo=timezone.utc)
WIB = timezone(timedelta(hours=7))


def source(name: str) -> bytes:
    return (FIXTURES / f"{name}.eml").read_bytes()


def parse(name: str, max_attachment_bytes: int = 5_000_000) -> Message | Skipped:
    result = parse_email(source(name), ACCOUNT, NOW, max_attachment_bytes)
    # Whatever came out is stored as JSON: the raw dict must survive that, source included.
    json.dumps(result.raw)
    if isinstance(result, Message):
        json.dumps(result.stored())
    return result


def message(name: str, max_attachment_bytes: int = 5_000_000) -> Message:
    msg = parse(name, max_attachment_bytes)
    assert isinstance(msg, Message), msg
    return msg


def test_every_fixture_has_a_test() -> None:
    names = {p.stem for p in FIXTURES.glob("*.eml")}
    tested = {n[len("test_"):] for n in globals() if n.startswith("test_")}
    assert names <= tested, f"fixtures without a test: {sorted(names - tested)}"


def test_plain_text() -> None:
    msg = message("plain_text")
    assert msg.channel == "email" and msg.key == "<CAJx8Lq2v9PzK3r@mail.gmail.com>"
    assert msg.provider_message_id == msg.key and msg.reply_to is None and msg.command is None
    # The subject is the report's headline: it comes first, then the body.
    assert msg.text.startswith("Banjir di Kampung Melayu\n\nSelamat pagi,")
    assert "Air sudah setinggi lutut di Jl. Jatinegara Barat" in msg.text and msg.text.endswith("Siti")
    assert msg.sender.id == "siti.rahma@gmail.com" and msg.sender.name == "Siti Rahma"  # address lowercased
    a = msg.address
    assert (a.channel, a.chat_id, a.bot, a.reply_to) == ("email", "siti.rahma@gmail.com", ACCOUNT, msg.key)
    assert a.subject == "Banjir di Kampung Melayu" and a.references == msg.key
    assert msg.language_hint == "id" and msg.media == []
    assert msg.sent_at == datetime(2025, 11, 24, 7, 42, 10, tzinfo=WIB) and msg.received_at == NOW
    assert msg.raw["headers"]["Subject"] == "Banjir di Kampung Melayu"
    assert base64.b64decode(msg.raw["source_b64"]) == source("plain_text")  # kept whole for inspection


def test_alternative_text_html() -> None:
    msg = message("alternative_text_html")
    # text/plain is preferred over the HTML alternative (no markup, quoted-printable soft breaks joined).
    assert msg.text == ("Sampah menumpuk di Jl. Dermaga, Duren Sawit\n\nSudah tiga hari sampah tidak diangkut di "
                        "depan Pasar Perumnas Klender, Jl. Dermaga. Baunya menyengat dan mulai menutup saluran air.")
    assert msg.sender.id == "agus.salim@yahoo.co.id"
    assert msg.address.chat_id == "agus.kantor@contoh.co.id"  # Reply-To is where the answer goes


def test_photo_jpeg() -> None:
    msg = message("photo_jpeg")
    assert msg.language_hint == "en"  # Content-Language: en-US
    assert msg.text.startswith("Pothole on Jl. Gatot Subroto near Semanggi\n\nThere is a deep pothole")
    [photo] = msg.media
    jpeg = base64.b64decode(base64.b64decode(msg.raw["source_b64"]).split(b"base64\n\n")[1].split(b"\n\n--")[0])
    assert jpeg[:3] == b"\xff\xd8\xff"
    assert photo.kind == "photo" and photo.mime_type == "image/jpeg" and photo.size == len(jpeg) == 159
    # A photo we can show is kept with the message by its hash (store/media.py), for the officers' pages.
    assert photo.file_id == "media:sha256:" + hashlib.sha256(jpeg).hexdigest()
    assert msg.blobs == {photo.file_id: jpeg} and "blobs" not in msg.stored()


def test_html_only() -> None:
    msg = message("html_only")
    assert msg.text == ("Lampu jalan mati\n\n"
                        "Lampu jalan di Jl. Tebet Raya depan Taman Honda & sekitarnya mati sudah seminggu.\n\n"
                        "Malam hari gelap sekali,\nrawan kejahatan.\n\nTiang nomor 12\nTiang nomor 13")
    assert "alert" not in msg.text and "color" not in msg.text and "<" not in msg.text


def test_latin1_quoted_printable() -> None:
    msg = message("latin1_quoted_printable")
    assert msg.sender.name == "José Müller"  # RFC 2047 words in ISO-8859-1
    assert msg.address.subject == "Pohon tumbang dekat Café Olé"
    assert "di depan Café Olé, Jl. Kemang Raya No. 5, Bangka." in msg.text
    assert "Grüße dari warga « Kemang »." in msg.text and "\ufffd" not in msg.text


def test_windows1252() -> None:
    msg = message("windows1252")
    assert "Juru parkir “liar” di trotoar depan Pasar Minggu minta €1 – eh, Rp5.000 … setiap motor." in msg.text


def test_reply_gmail_id() -> None:
    msg = message("reply_gmail_id")
    # Only the citizen's answer: not our quoted text, not Gmail's wrapped "Pada … menulis:" line, and not
    # the subject (it is our own, "Re: Laporan JKT-…"), so a short answer stays short.
    assert msg.text == "Airnya sudah surut pak, terima kasih."
    assert msg.reply_to == "<176396.crophub.1@jakarta.go.id>"  # our reply, by the id our sender returned
    assert msg.address.reply_to == "<CAJx8Lq-reply-77@mail.gmail.com>"
    assert msg.address.subject == "Re: Laporan JKT-2026-000123"
    assert msg.address.references == ("<CAJx8Lq2v9PzK3r@mail.gmail.com> <176396.crophub.1@jakarta.go.id> "
                                       "<CAJx8Lq-reply-77@mail.gmail.com>")


def test_reply_english() -> None:
    msg = message("reply_english")
    assert msg.text == "It is still there, nobody came today."  # "On … wrote:" wrapped, quote and signature gone
    assert msg.reply_to == "<176400.crophub.9@jakarta.go.id>" and msg.language_hint == "en"
    # No References header: the chain is built from In-Reply-To (RFC 5322 §3.6.4).
    assert msg.address.references == "<176400.crophub.9@jakarta.go.id> " + msg.key


def test_reply_outlook() -> None:
    msg = message("reply_outlook")
    # base64 body; Outlook's underscore line and "Dari:/Dikirim:" block start the quoted mail.
    assert msg.text == "Belum, saluran di Jl. Cipinang Muara masih mampet.\n\nSalam,\nMaria"
    assert msg.reply_to == "<176410.crophub.4@jakarta.go.id>"


def test_forwarded_chain() -> None:
    msg = message("forwarded_chain")
    assert msg.text == ("Genangan air di Kelapa Gading\n\n"
                        "Tolong ditindaklanjuti, ini laporan tetangga saya.\n\n"
                        "Pak Budi, bisa tolong diteruskan ke Pemprov?\n\n"
                        "Genangan setinggi 30 cm di Jl. Boulevard Raya depan Mal Kelapa Gading,\n"
                        "Kel. Kelapa Gading Barat. Sudah dua hari tidak surut.")
    assert "From:" not in msg.text and "Forwarded" not in msg.text and "googlegroups" not in msg.text
    assert msg.sender.id == "budi.santoso@gmail.com" and msg.reply_to is None


def test_forwarded_as_attachment() -> None:
    msg = message("forwarded_as_attachment")
    # "Fw: laporan" says nothing; the attached mail's subject and text are the report.
    assert msg.text == ("Diteruskan dari grup RT.\n\nPengemis di lampu merah Cawang\n\n"
                        "Ada anak-anak mengemis di lampu merah Cawang UKI setiap sore.")


def test_oversized_photo() -> None:
    msg = message("oversized_photo", max_attachment_bytes=1000)
    # The message is kept; the small photo with it; the large one dropped with its reason, and so is the PDF.
    assert msg.text.startswith("Foto banjir Kampung Melayu\n\nIni fotonya")
    [photo] = msg.media
    assert photo.size == 159
    dropped = {d["kind"]: d for d in msg.raw["dropped"]}
    assert dropped["oversized"]["filename"] == "besar.jpg" and dropped["oversized"]["size"] == 4123
    assert dropped["oversized"]["reason"] == "photo besar.jpg is 4123 bytes, over max_attachment_bytes 1000"
    assert dropped["unsupported"]["mime_type"] == "application/pdf"
    # With the default limit the large one is kept too; it is the small picture with a 4 kB comment in it, so once
    # its metadata is dropped (store/media.py) the two are one photo.
    whole = message("oversized_photo")
    assert "oversized" not in {d["kind"] for d in whole.raw.get("dropped", [])}
    assert [m.file_id for m in whole.media] == [photo.file_id]


def test_broken_mime_no_boundary() -> None:
    msg = message("broken_mime_no_boundary")
    # The boundary parameter is missing: the one the body's first "--" line names is used.
    assert msg.text == ("Lampu lalu lintas rusak\n\n"
                        "Lampu lalu lintas di perempatan Matraman mati total, macet parah.")
    assert "NoBoundaryInMultipartDefect" in msg.raw["defects"]
    assert msg.raw["dropped"][0]["mime_type"] == "application/octet-stream"


def test_broken_mime_garbage() -> None:
    skip = parse("broken_mime_garbage")
    assert isinstance(skip, Skipped) and skip.status == "rejected" and skip.channel == "email"
    assert skip.key == "<garbage-1@contoh.co.id>"
    assert skip.reason.startswith("nothing readable (broken MIME: ") and "StartBoundaryNotFoundDefect" in skip.reason
    assert base64.b64decode(skip.raw["source_b64"]) == source("broken_mime_garbage")  # kept for inspection


def test_no_message_id() -> None:
    msg = message("no_message_id")
    assert msg.key == "sha256:" + hashlib.sha256(source("no_message_id")).hexdigest()
    assert msg.provider_message_id is None and msg.address.reply_to is None and msg.address.references is None
    assert msg.text.startswith("Jalan rusak\n\nJalan di Gang Masjid, Cengkareng Timur")


def test_auto_reply() -> None:
    skip = parse("auto_reply")
    assert isinstance(skip, Skipped) and skip.status == "ignored"
    assert skip.reason == "automatic mail (Auto-Submitted: auto-replied)"
    assert skip.key == "<CAJx8Lq-vacation-9@mail.gmail.com>"


def test_own_address() -> None:
    skip = parse("own_address")
    assert isinstance(skip, Skipped) and skip.status == "ignored"
    assert skip.reason == "sent from our own address (mail loop)"  # From: Pengaduan@Jakarta.go.id, any case


def test_bounce() -> None:
    skip = parse("bounce")
    assert isinstance(skip, Skipped) and skip.status == "ignored"
    assert skip.reason == "bounce from mailer-daemon@mx.jakarta.go.id"


def test_command_status() -> None:
    msg = message("command_status")
    assert msg.command == "/status" and msg.text == "/status JKT-2026-000123"  # no subject before a command


def test_bad_date() -> None:
    msg = message("bad_date")
    assert msg.sent_at is None
    assert msg.key == "<rudi-no-brackets-5@contoh.co.id>"  # brackets added, like every other Message-ID


# --- beyond the fixtures: inputs no real mail fixture can hold ------------------------------------------

def test_empty_and_headerless_input_is_rejected_not_raised() -> None:
    empty = parse_email(b"", ACCOUNT, NOW)
    assert isinstance(empty, Skipped) and empty.status == "rejected" and empty.reason == "empty message"
    junk = parse_email(bytes(range(256)) * 4, ACCOUNT, NOW)
    assert isinstance(junk, Skipped) and junk.status == "rejected" and junk.key.startswith("sha256:")


def test_undecodable_bytes_and_unknown_charset_never_crash() -> None:
    raw = (b"From: Tono <tono@contoh.co.id>\nSubject: Sampah di Kali \xe9\xff\nMessage-ID: <x-1@contoh.co.id>\n"
           b"Content-Type: text/plain; charset=x-no-such-charset\n\nSampah di Kali Ciliwung \xff\xfe menumpuk.\n")
    msg = parse_email(raw, ACCOUNT, NOW)
    assert isinstance(msg, Message)
    assert "Sampah di Kali Ciliwung" in msg.text and "menumpuk." in msg.text
    json.dumps(msg.stored()), json.dumps(msg.raw)


def test_too_large_keeps_the_headers() -> None:
    header = source("plain_text").split(b"\n\n")[0] + b"\n\n"
    skip = too_large(header, 30_000_000, 25_000_000)
    assert skip.status == "rejected" and skip.key == "<CAJx8Lq2v9PzK3r@mail.gmail.com>"
    assert skip.reason == "message is 30000000 bytes, over max_message_bytes 25000000: not downloaded"
    assert skip.raw["headers"]["From"] == "Siti Rahma <Siti.Rahma@gmail.com>" and skip.raw["size"] == 30_000_000


def test_html_reply_quote_is_stripped() -> None:
    html = ('<div dir="ltr">Sudah surut, terima kasih.</div><br><div class="gmail_quote"><div class="gmail_attr">'
            'Pada Sen, 24 Nov 2025 pukul 08.01 Pengaduan &lt;pengaduan@jakarta.go.id&gt; menulis:<br></div>'
            '<blockquote class="gmail_quote"><div>Terima kasih, laporan Anda</div></blockquote></div>')
    assert strip_quotes(html_to_text(html)) == "Sudah surut, terima kasih."


def test_apple_forward_in_blockquote_keeps_the_forwarded_text() -> None:
    html = ('<div>Lihat ini</div><blockquote type="cite"><div>Begin forwarded message:</div><br>'
            '<div><b>From:</b> Ani &lt;ani@contoh.co.id&gt;</div><div><b>Subject:</b> Banjir</div><br>'
            '<div>Banjir di Cawang setinggi pinggang.</div></blockquote>')
    assert strip_quotes(html_to_text(html)) == "Lihat ini\n\nBanjir di Cawang setinggi pinggang."


def test_a_sentence_ending_in_menulis_is_not_a_quote_header() -> None:
    text = "Saya ingin menulis:\nJalan di Jl. Pemuda rusak berat."
    assert strip_quotes(text) == text
