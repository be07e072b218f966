"""`/publik nama <alias>` and `/publik hapus`, on SQLite and PostgreSQL: a citizen opts in to the public page's top
reporters under a handle of their own, and out again; nobody is listed by default; a handle that is a phone
number, an email, a link, too short or long, or another's is refused politely (in the citizen's language)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

import pytest
import redis
from rq import Queue
from sqlalchemy import select

from ingest.intake import INTAKE_QUEUE, Batch, Intake
from ingest.message import Address, Message, Sender
from router import aliases, commands
from store import db, ops
from store.models import Citizen, Outbox
from tests.web.conftest import work

pytestmark = pytest.mark.usefixtures("hub")


def _citizen(external_id: str = "5550001") -> int:
    with db.session() as s:
        [cid] = ops.upsert_citizens(s, [{"channel": "telegram", "external_id": external_id, "display_name": "Budi",
                                         "username": None, "language": "id"}]).values()
        s.commit()
    return cid


def publik(citizen_id: int, text: str, language: str = "id") -> str:
    """The reply to the command `text` from the citizen, committed as the pipeline commits it."""
    msg = Message(channel="telegram", key="tg-publik", sender=Sender(id="5550001"),
                  address=Address(channel="telegram", chat_id="5550001"), text=text,
                  command=text.split(maxsplit=1)[0].split("@")[0].lower(), received_at=datetime.now(timezone.utc))
    with db.session() as s:
        reply = commands.answer(s, msg, citizen_id, language)
        s.commit()
    return reply


def alias_of(citizen_id: int) -> str | None:
    with db.session() as s:
        return s.get(Citizen, citizen_id).public_alias  # type: ignore[union-attr]


def test_nobody_is_listed_until_they_opt_in_and_can_opt_out() -> None:
    budi = _citizen()
    assert alias_of(budi) is None
    assert "tidak tampil di halaman publik" in publik(budi, "/publik")  # says how to opt in
    reply = publik(budi, "/publik nama  Warga   Tebet ")
    assert 'sebagai "Warga Tebet"' in reply and "/publik hapus" in reply and alias_of(budi) == "Warga Tebet"
    assert '"Warga Tebet"' in publik(budi, "/publik")
    assert 'as "Pejuang Got"' in publik(budi, "/public name Pejuang Got", "en") and alias_of(budi) == "Pejuang Got"
    assert "sudah dihapus" in publik(budi, "/publik hapus") and alias_of(budi) is None
    assert "memang tidak tampil" in publik(budi, "/publik hapus")
    assert 'as "Budi99"' in publik(budi, "/publik nama Budi99", "en") and alias_of(budi) == "Budi99"
    assert "no longer shown" in publik(budi, "/publik@CropHubBot remove", "en") and alias_of(budi) is None


@pytest.mark.parametrize(("alias", "reason", "words"), [
    ("0812 3456 7890", "alias_contact", "nomor telepon"), ("budi@example.com", "alias_contact", "email"),
    ("www.budi.id", "alias_contact", "tautan"), ("https://x.co", "alias_contact", "tautan"),
    ("budi.com", "alias_contact", "tautan"), ("warga123456", "alias_contact", "nomor telepon"),
    ("ab", "alias_short", "minimal 3"), ("x" * 25, "alias_long", "24 karakter"),
    ("<b>budi</b>", "alias_chars", "hanya boleh"), ("12-34", "alias_chars", "hanya boleh"),
    ("Admin Kota", "alias_reserved", "akun resmi"), ("Petugas DSDA", "alias_reserved", "akun resmi"),
    ("ＡＤＭＩＮ", "alias_reserved", "akun resmi"),  # full-width letters read as what they look like
])
def test_a_handle_that_could_reach_or_mislead_is_refused_politely(alias: str, reason: str, words: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    budi = _citizen()
    with pytest.raises(aliases.Refused, match=reason):
        aliases.clean(alias)
    with caplog.at_level(logging.INFO):
        reply = publik(budi, f"/publik nama {alias}")
    assert reply.startswith("Maaf") and words in reply and alias_of(budi) is None
    assert any(reason in r.getMessage() and alias not in r.getMessage() for r in caplog.records)
    assert publik(budi, f"/publik nama {alias}", "en").startswith("Sorry")


def test_a_handle_is_one_citizens_whatever_its_case() -> None:
    ani, budi = _citizen("1"), _citizen("2")
    publik(ani, "/publik nama Warga Tebet")
    assert "sudah dipakai" in publik(budi, "/publik nama warga tebet") and alias_of(budi) is None
    assert "sebagai" in publik(ani, "/publik nama WARGA TEBET")  # their own, in another case: fine
    publik(ani, "/publik hapus")
    assert "sebagai" in publik(budi, "/publik nama warga tebet") and alias_of(budi) == "warga tebet"


def test_opting_in_through_telegram(redis_conn: redis.Redis) -> None:
    """The command as a Telegram message goes through the intake and the pipeline like any other."""
    sender = Sender(id="5550009", name="Siti Rahayu", username="sitir")
    msg = Message(channel="telegram", key="tg-publik-1", sender=sender, address=Address(channel="telegram",
                  chat_id=sender.id), text="/publik nama Siti Lapor", command="/publik",
                  received_at=datetime.now(timezone.utc))
    Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn)).accept(Batch([msg]))
    work(redis_conn)
    with db.session() as s:
        citizen = s.scalars(select(Citizen).where(Citizen.external_id == "5550009")).one()
        [reply] = s.scalars(select(Outbox).where(Outbox.chat_key == msg.address.chat_key)).all()
    assert citizen.public_alias == "Siti Lapor" and 'sebagai "Siti Lapor"' in reply.text
