"""The intake on SQLite and PostgreSQL: payloads are made storable before they are stored, and a batch the
database refuses falls back to item by item, keeping the bad item as rejected and advancing the cursor."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import pytest
import redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.exc import DataError

from ingest.intake import INTAKE_QUEUE, Batch, Intake, Skipped
from ingest.message import Address, Location, Message, Sender
from store import db, ops, storable
from store.models import Cursor, InboundMessage

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


def message(key: str, text: str = "banjir di jl dermaga raya", **fields: Any) -> Message:
    return Message(channel="telegram", key=key, sender=Sender(id="42"), address=Address(channel="telegram", chat_id="42"),
                   text=text, received_at=NOW, **fields)


def stored() -> dict[str, InboundMessage]:
    with db.session() as s:
        return {r.key: r for r in s.scalars(select(InboundMessage))}


@pytest.fixture
def intake(hub: str, redis_conn: redis.Redis) -> Intake:
    return Intake(db.factory(), Queue(INTAKE_QUEUE, connection=redis_conn))


# --- making payloads storable ---------------------------------------------------------------------------------

def test_text_loses_nul_and_lone_surrogates_but_keeps_real_emoji() -> None:
    assert storable.clean_text("banjir \ud800 di\x00 sini 🙏") == "banjir \ufffd di sini 🙏"
    assert storable.clean_text("\ud83d\ude4f") == "🙏"  # a surrogate pair is one character, kept
    assert storable.clean_text("biasa") == "biasa"


def test_values_become_storable_and_say_so() -> None:
    value, changed = storable.storable({"lat": math.inf, "n": [math.nan, -math.inf, 1.5], "t\x00": "a\udc80",
                                        "ok": True, "none": None})
    assert changed and value == {"lat": "Infinity", "n": ["NaN", "-Infinity", 1.5], "t": "a\ufffd", "ok": True,
                                 "none": None}
    assert storable.storable({"a": [1, "b"]}) == ({"a": [1, "b"]}, False)


def test_a_long_key_is_cut_and_stays_unique() -> None:
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert len(storable.fit_key(long_a)) <= 255 and storable.fit_key(long_a) != storable.fit_key(long_b)
    assert storable.fit_key("700:1") == "700:1"


def test_the_original_is_kept_as_ascii_text() -> None:
    text = storable.original_text({"lat": math.inf, "text": "banjir \ud800\x00"})
    assert text.isascii() and "Infinity" in text and "\\ud800" in text and "\\u0000" in text


# --- the intake -----------------------------------------------------------------------------------------------

def test_unstorable_payloads_are_stored_cleaned_with_their_original(intake: Intake) -> None:
    raw = {"update_id": 1, "message": {"text": "banjir \ud800\x00", "location": {"latitude": math.inf}}}
    ids = intake.accept(Batch(
        [message("1", "banjir \ud800\x00", raw=raw), message("x" * 300)],
        [Skipped("telegram", "2", "rejected", "location: latitude \ud800 out of range", {"latitude": math.nan})],
        ("telegram:offset", "3"),
    ))
    assert len(ids) == 2
    rows = stored()
    assert rows["1"].message["text"] == "banjir \ufffd" and rows["1"].raw["message"]["location"]["latitude"] == "Infinity"
    assert "\\ud800" in (rows["1"].raw_text or "")
    assert rows["2"].status == "rejected" and rows["2"].raw == {"latitude": "NaN"} and "\ufffd" in (rows["2"].reason or "")
    assert [k for k in rows if k.startswith("xxx")] and all(len(k) <= 255 for k in rows)


def test_a_message_whose_parsed_form_is_not_finite_is_rejected_with_its_reason(intake: Intake) -> None:
    bad = message("1", location=Location(lat=-6.2, lon=106.8, accuracy_m=math.inf))
    ids = intake.accept(Batch([bad, message("2")], cursor=("telegram:offset", "3")))
    rows = stored()
    assert len(ids) == 1 and rows["2"].status == "received"
    assert rows["1"].status == "rejected" and "location.accuracy_m" in (rows["1"].reason or "")
    assert rows["1"].raw_text and "Infinity" in rows["1"].raw_text


def test_a_batch_with_one_bad_item_stores_the_others_and_advances_the_cursor(
    intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    save = ops.save_inbound

    def refusing(session: Any, rows: list[dict[str, Any]]) -> list[int]:
        # What cleaning did not foresee: the database refuses one new message.
        if any(r["key"] == "poison" and r["status"] == "received" for r in rows):
            raise DataError("INSERT INTO inbound_messages ...", {}, Exception("invalid input syntax"))
        return save(session, rows)

    monkeypatch.setattr(ops, "save_inbound", refusing)
    ids = intake.accept(Batch([message("1"), message("poison"), message("3")], cursor=("telegram:offset", "4")))
    rows = stored()
    assert len(ids) == 2 and {rows["1"].status, rows["3"].status} == {"received"}
    assert rows["poison"].status == "rejected" and "invalid input syntax" in (rows["poison"].reason or "")
    assert rows["poison"].raw_text  # the payload is kept
    with db.session() as s:
        assert s.get(Cursor, "telegram:offset").value == "4"
    # A replay of the bad one is recognised, not stored again.
    assert intake.accept(Batch([message("poison")])) == []
    assert len(stored()) == 3


def test_a_payload_nested_too_deep_is_kept_as_rejected_and_the_others_stored(intake: Intake) -> None:
    deep: Any = "banjir"
    for _ in range(5000):
        deep = {"a": deep}
    ids = intake.accept(Batch([message("1"), message("2")],
                              [Skipped("waze", "deep", "rejected", "feed item is not an alert", deep)],
                              ("waze:feed", "5")))
    rows = stored()
    assert len(ids) == 2 and rows["deep"].status == "rejected" and rows["deep"].reason
    with db.session() as s:
        assert s.get(Cursor, "waze:feed").value == "5"
