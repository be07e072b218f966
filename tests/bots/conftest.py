"""Fixtures for the channels' tests: the fake Twitter API v2, the fake WhatsApp Cloud API, a Dovecot IMAP server and
aiosmtpd SMTP servers on loopback."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.fakes.messenger_api import FakeGraphAPI
from tests.fakes.mail import PASSWORD_ENV, Dovecot, Mailbox, SmtpServer, dovecot_binary, make_certificate
from tests.fakes.sms_gateway import FakeSmsGateway
from tests.fakes.twitter_api import FakeTwitterAPI
from tests.fakes.whatsapp_api import FakeWhatsAppAPI


@pytest.fixture(scope="session")
def twitter_server() -> Iterator[FakeTwitterAPI]:
    """The fake API v2 server, in its own thread, for the session."""
    api = FakeTwitterAPI().start()
    yield api
    api.stop()


@pytest.fixture
def api(twitter_server: FakeTwitterAPI) -> FakeTwitterAPI:
    """The fake API, emptied for this test."""
    twitter_server.reset()
    return twitter_server


@pytest.fixture(scope="session")
def mail_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 (cert, key), or None without the openssl CLI."""
    return make_certificate(tmp_path_factory.mktemp("mail-tls"))


@pytest.fixture(scope="session")
def dovecot(mail_certificate: tuple[Path, Path] | None) -> Iterator[Dovecot]:
    """One Dovecot for the session (plain + STARTTLS on one port, IMAPS on another when a certificate
    could be made). Skipped without Dovecot, except in CI, where the email tests must run."""
    binary = dovecot_binary()
    if binary is None:
        reason = "dovecot is not installed (apt-get install dovecot-imapd); the IMAP tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run them")
        pytest.skip(reason)
    server = Dovecot(binary, mail_certificate).start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> Mailbox:
    """A fresh user with an empty inbox on the session's Dovecot, its password in the environment."""
    box = dovecot.mailbox()
    monkeypatch.setenv(PASSWORD_ENV, box.password)
    return box


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain aiosmtpd server collecting what it receives."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def whatsapp_server() -> Iterator[FakeWhatsAppAPI]:
    """The fake WhatsApp Cloud API server, in its own thread, for the session."""
    api = FakeWhatsAppAPI().start()
    yield api
    api.stop()


@pytest.fixture
def wa_api(whatsapp_server: FakeWhatsAppAPI) -> FakeWhatsAppAPI:
    """The fake Cloud API, emptied for this test."""
    whatsapp_server.reset()
    return whatsapp_server


@pytest.fixture(scope="session")
def graph_server() -> Iterator[FakeGraphAPI]:
    """The fake Messenger Send API (Graph API) server, in its own thread, for the session."""
    server = FakeGraphAPI().start()
    yield server
    server.stop()


@pytest.fixture
def graph(graph_server: FakeGraphAPI) -> FakeGraphAPI:
    """The fake Send API, emptied for this test."""
    graph_server.reset()
    return graph_server


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[FakeSmsGateway]:
    """The fake SMS gateway (Twilio's and Vonage's send APIs), in its own thread, for the session."""
    server = FakeSmsGateway().start()
    yield server
    server.stop()


@pytest.fixture
def gateway(gateway_server: FakeSmsGateway) -> FakeSmsGateway:
    """The fake SMS gateway, emptied for this test."""
    gateway_server.reset()
    return gateway_server
