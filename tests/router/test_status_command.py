"""/status with a ticket id, on SQLite and PostgreSQL: a real id is looked up; anything that cannot be a ticket
id is answered politely without a lookup and without echoing it whole (issue 16: a 5,000-digit "id" built a
5,087-character reply Telegram refused)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest

from ingest.message import Address, Message, Sender
from router import commands, ticket_ids
from store import db, ops

pytestmark = pytest.mark.usefixtures("hub")

TELEGRAM_MAX = 4096  # the longest text Telegram sends


def status(text: str, language: str = "id") -> str:
    """The reply to a Telegram command `text`."""
    msg = Message(channel="telegram", key="tg-status", sender=Sender(id="5550001"),
                  address=Address(channel="telegram", chat_id="5550001"), text=text, command="/status",
                  received_at=datetime.now(timezone.utc))
    with db.session() as s:
        return commands.answer(s, msg, 0, language)


@pytest.mark.parametrize("asked", ["JKT-2026-" + "9" * 5000, "JKT-2026-" + "1" * 19, "9" * 5000, "x" * 300,
                                   "JKT-2026-\x00\x00\x00123", "JKT-2026-١٢٣٤٥٦"])
def test_what_cannot_be_a_ticket_id_is_answered_short(asked: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        reply = status(f"/status {asked}")
    assert len(reply) < 300 < TELEGRAM_MAX and "\x00" not in reply
    assert asked not in reply or len(asked) <= ticket_ids.MAX_LENGTH
    assert "tidak ditemukan" in reply and "JKT-2026-000123" in reply  # "not found", with an example of one
    assert any("not a ticket id" in r.getMessage() for r in caplog.records)


def test_a_ticket_id_is_looked_up_whatever_its_case() -> None:
    with db.session() as s:
        [(_, public_id)] = ops.create_tickets(s, "JKT", [{"channel": "telegram", "text": "banjir", "category": "flood",
                                                              "reply_address": {}}])
    assert public_id in status(f"/status {public_id.lower()}", "en") and "not found" not in status(
        f"/status {public_id}", "en")
    missing = status("/status JKT-2026-999999", "en")
    assert "JKT-2026-999999 was not found" in missing


def test_the_shape_of_a_ticket_id() -> None:
    assert ticket_ids.parse(" jkt-2026-000123 ") == "JKT-2026-000123"
    assert ticket_ids.parse("BEKASI01-2026-000123") is None and ticket_ids.parse("JKT-2026-12345") is None
    assert ticket_ids.parse("JKT-2026-" + "1" * 18) is not None and ticket_ids.parse("JKT-2026-" + "1" * 19) is None
    assert ticket_ids.shown("x" * 100) == "x" * 31 + "…" and ticket_ids.shown("JKT-1") == "JKT-1"
    assert ticket_ids.shown("JKT\x00-1\n") == "JKT?-1?"  # what a reply or a database could choke on
