"""Channels that cannot remove buttons nor answer a press (Twitter, email) ignore clear_buttons and toast, and a row
without text (one that only carried them) sends nothing: no empty tweet, no empty mail."""
from __future__ import annotations

from typing import Any

import pytest

from bots.email.send import EmailSender
from bots.twitter.send import TwitterSender
from bots.webchat.send import WebChatSender
from ingest.message import Address
from tests.fakes.mail import SmtpServer
from tests.fakes.twitter_api import FakeTwitterAPI, credentials

STALE = {"clear_buttons": "1990000000000000555", "toast": "Pertanyaan ini sudah tidak berlaku."}
TWEETER = Address(channel="twitter", chat_id="1122334455", bot="1481234567", reply_to="1990000000000000102")
MAILER = Address(channel="email", chat_id="siti.rahma@gmail.com", bot="pengaduan@jakarta.go.id",
                 reply_to="<CAJx8Lq2v9PzK3r@mail.gmail.com>", subject="Banjir di Kampung Melayu")


def twitter_config(api: FakeTwitterAPI, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    return {"account_id": "1481234567", "account_username": "CropHubJKT", "api_base_url": api.base_url,
            **credentials(monkeypatch), "max_rate_limit_wait": 5.0, "timeout": 5.0}


async def test_twitter_ignores_the_keys_and_posts_nothing_for_an_empty_row(api: FakeTwitterAPI,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    sender = TwitterSender(twitter_config(api, monkeypatch))
    assert await sender.send(TWEETER, "", STALE) == ""
    assert await sender.send(TWEETER, " \n", STALE) == ""
    assert api.posted == []
    tweet_id = await sender.send(TWEETER, "Terima kasih, laporan Anda kami tutup.", STALE)
    [posted] = api.posted
    assert posted["id"] == tweet_id and posted["text"] == "Terima kasih, laporan Anda kami tutup."


async def test_email_ignores_the_keys_and_sends_no_mail_for_an_empty_row(smtp_server: SmtpServer) -> None:
    sender = EmailSender(smtp_server.config())
    assert await sender.send(MAILER, "", STALE) == ""
    assert smtp_server.received == []
    message_id = await sender.send(MAILER, "Terima kasih, laporan Anda kami tutup.", STALE)
    [got] = smtp_server.received
    assert got.message["Message-ID"] == message_id
    body = got.message.get_body(preferencelist=("plain",))
    assert body is not None and "tidak berlaku" not in body.get_content()  # the toast is no part of a mail


async def test_the_web_chat_gives_an_empty_row_no_id() -> None:
    sender = WebChatSender({})
    web = Address(channel="web", chat_id="c" * 32)
    assert await sender.send(web, "", STALE) == ""
    first, second = await sender.send(web, "Sudah surut?"), await sender.send(web, "Sudah surut?")
    assert first and second and first != second
