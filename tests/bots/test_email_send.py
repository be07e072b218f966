"""Replies over SMTP to a real aiosmtpd server on loopback: threading headers, parts, errors mapped."""
from __future__ import annotations

from pathlib import Path

import pytest

from bots.email.parse import parse_email
from bots.email.send import EmailSender
from bots.errors import PermanentError, TransientError
from ingest.message import Address, Message
from tests.fakes.mail import SmtpServer, free_port

FIXTURES = Path(__file__).parents[1] / "fixtures" / "email"
ACCOUNT = "pengaduan@jakarta.go.id"
CITIZEN = Address(channel="email", chat_id="siti.rahma@gmail.com", bot=ACCOUNT,
                  reply_to="<CAJx8Lq2v9PzK3r@mail.gmail.com>", subject="Banjir di Kampung Melayu",
                  references="<CAJx8Lq2v9PzK3r@mail.gmail.com>")
ACK = ("Terima kasih, laporan Anda sudah kami terima dengan nomor tiket JKT-2026-000123.\n"
       "Lokasi: https://www.openstreetmap.org/?mlat=-6.2250&mlon=106.8650 <Kampung Melayu> & sekitarnya")


async def test_reply_threads_under_the_citizens_mail(smtp_server: SmtpServer) -> None:
    sender = EmailSender(smtp_server.config())
    message_id = await sender.send(CITIZEN, ACK, {"language": "id", "photo": "AgACAgUAAxk-telegram-file"})
    [got] = smtp_server.received
    msg = got.message
    assert got.mail_from == ACCOUNT and got.rcpt_tos == ["siti.rahma@gmail.com"]
    assert not got.tls and got.login is None  # security: none, no username
    assert msg["From"] == "Pengaduan Warga Jakarta <pengaduan@jakarta.go.id>"
    assert msg["To"] == "siti.rahma@gmail.com"
    assert msg["Subject"] == "Re: Banjir di Kampung Melayu"
    assert msg["In-Reply-To"] == "<CAJx8Lq2v9PzK3r@mail.gmail.com>"
    assert msg["References"] == "<CAJx8Lq2v9PzK3r@mail.gmail.com>"  # reply_to already in it: not doubled
    assert msg["Message-ID"] == message_id and message_id.endswith("@jakarta.go.id>")
    assert msg["Auto-Submitted"] == "auto-replied" and msg["Content-Language"] == "id"
    assert msg["Date"] is not None
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n").rstrip("\n") == ACK
    assert html is not None
    body = html.get_content()
    assert 'lang="id"' in body and "JKT-2026-000123.<br>" in body
    assert "&lt;Kampung Melayu&gt; &amp; sekitarnya" in body  # escaped
    assert '<a href="https://www.openstreetmap.org/?mlat=-6.2250&amp;mlon=106.8650">' in body
    assert not msg.get_payload()[0].is_attachment() and len(msg.get_payload()) == 2  # no photo part


async def test_a_citizens_answer_to_the_reply_points_back_at_it(smtp_server: SmtpServer) -> None:
    """Round trip: the reply's Message-ID is what the citizen's next mail carries in In-Reply-To, and a
    reply to that carries the whole chain in References."""
    sender = EmailSender(smtp_server.config())
    first = parse_email((FIXTURES / "plain_text.eml").read_bytes(), ACCOUNT)
    assert isinstance(first, Message)
    ours = await sender.send(first.address, "Terima kasih, tiket JKT-2026-000123.")
    answer = (f"From: Siti Rahma <siti.rahma@gmail.com>\nTo: {ACCOUNT}\nSubject: Re: Re: Banjir di Kampung Melayu\n"
              f"Message-ID: <answer-1@mail.gmail.com>\nIn-Reply-To: {ours}\n"
              f"References: <CAJx8Lq2v9PzK3r@mail.gmail.com> {ours}\n\nSudah surut.\n").encode()
    reply = parse_email(answer, ACCOUNT)
    assert isinstance(reply, Message) and reply.reply_to == ours and reply.text == "Sudah surut."
    await sender.send(reply.address, "Terima kasih.", {"language": "en"})
    second = smtp_server.received[-1].message
    assert second["Subject"] == "Re: Re: Banjir di Kampung Melayu"  # already a reply: no third "Re:"
    assert second["In-Reply-To"] == "<answer-1@mail.gmail.com>"
    assert second["References"].split() == ["<CAJx8Lq2v9PzK3r@mail.gmail.com>", ours, "<answer-1@mail.gmail.com>"]
    assert second["Content-Language"] == "en"


async def test_no_subject_names_the_ticket(smtp_server: SmtpServer) -> None:
    sender = EmailSender(smtp_server.config())
    bare = Address(channel="email", chat_id="joko1960@yahoo.com", bot=ACCOUNT)
    await sender.send(bare, "Status tiket JKT-2026-000777: sedang dikerjakan.")
    await sender.send(bare, "Your ticket JKT-2026-000778 is closed.", {"language": "en"})
    await sender.send(bare, "Halo!")
    first, second, third = (r.message for r in smtp_server.received)
    assert first["Subject"] == "Laporan JKT-2026-000777" and first["In-Reply-To"] is None
    assert first["References"] is None
    assert second["Subject"] == "Report JKT-2026-000778"
    assert third["Subject"] == "Pengaduan Warga Jakarta"


async def test_recipient_refused_550_is_permanent(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["siti.rahma@gmail.com"] = "550 5.1.1 <siti.rahma@gmail.com>: user unknown"
    with pytest.raises(PermanentError, match="550"):
        await EmailSender(smtp_server.config()).send(CITIZEN, ACK)
    assert smtp_server.received == []


async def test_recipient_451_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse["siti.rahma@gmail.com"] = "451 4.7.1 greylisted, try again later"
    with pytest.raises(TransientError, match="451"):
        await EmailSender(smtp_server.config()).send(CITIZEN, ACK)


async def test_data_refused_with_552_is_permanent_and_452_transient(smtp_server: SmtpServer) -> None:
    smtp_server.handler.data_reply = "552 5.3.4 message too big"
    with pytest.raises(PermanentError, match="552"):
        await EmailSender(smtp_server.config()).send(CITIZEN, ACK)
    smtp_server.handler.data_reply = "452 4.3.1 insufficient system storage"
    with pytest.raises(TransientError, match="452"):
        await EmailSender(smtp_server.config()).send(CITIZEN, ACK)


async def test_closed_port_is_transient() -> None:
    config = {"address": ACCOUNT, "smtp": {"host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 2}}
    with pytest.raises(TransientError):
        await EmailSender(config).send(CITIZEN, ACK)


async def test_bad_recipient_and_missing_config_are_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentError, match="not a mail address"):
        await EmailSender(smtp_server.config()).send(CITIZEN.model_copy(update={"chat_id": "52710031"}), ACK)
    with pytest.raises(PermanentError, match="smtp.host"):
        await EmailSender({"address": ACCOUNT, "smtp": {"host": None}}).send(CITIZEN, ACK)
    with pytest.raises(PermanentError, match="CROPHUB_TEST_NO_SUCH_ENV"):
        await EmailSender(smtp_server.config(username="pengaduan")).send(CITIZEN, ACK)
    assert smtp_server.received == []


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_tls_and_login(security: str, mail_certificate: tuple[Path, Path] | None,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    if mail_certificate is None:
        pytest.skip("no openssl CLI to make a test certificate")
    monkeypatch.setenv("CROPHUB_TEST_SMTP_PASSWORD", "rahasia")
    monkeypatch.setenv("CROPHUB_TEST_SMTP_WRONG_PASSWORD", "salah")
    server = SmtpServer(security, mail_certificate, users={"pengaduan": "rahasia"}).start()
    try:
        config = server.config(certificate=mail_certificate, username="pengaduan",
                               password_env="CROPHUB_TEST_SMTP_PASSWORD")
        await EmailSender(config).send(CITIZEN, ACK)
        [got] = server.received
        assert got.tls and got.login == "pengaduan" and got.message["In-Reply-To"] == CITIZEN.reply_to
        # A wrong password is refused with 535: sending again will not help.
        wrong = {**config, "smtp": {**config["smtp"], "password_env": "CROPHUB_TEST_SMTP_WRONG_PASSWORD"}}
        with pytest.raises(PermanentError, match="535"):
            await EmailSender(wrong).send(CITIZEN, ACK)
        # Without our CA the self-signed certificate is not trusted: nothing is sent in the clear.
        untrusted = {**config, "smtp": {k: v for k, v in config["smtp"].items() if k != "cafile"}}
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            await EmailSender(untrusted).send(CITIZEN, ACK)
        assert len(server.received) == 1
    finally:
        server.stop()
