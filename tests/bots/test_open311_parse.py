"""bots/open311/parse.py: one test per fixture in tests/fixtures/open311 (a POSTed GeoReport v2 request → the
Message, or the reason it is refused), plus the idempotency key."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from bots.open311 import parse

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "open311"
NOW = datetime(2026, 12, 6, 3, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.stem)
def test_fixture(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    if "error" in case:
        with pytest.raises(parse.Invalid, match=case["error"]):
            parse.parse(case["form"], case["client"], NOW, case.get("area", ""))
        return
    msg = parse.parse(case["form"], case["client"], NOW, case.get("area", ""))
    want = case["expect"]
    assert (msg.channel, msg.category, msg.text) == ("open311", want["category"], want["text"])
    assert ([msg.location.lat, msg.location.lon] if msg.location else None) == want["location"]
    assert (msg.sender.name, msg.sender.id) == (want["sender_name"], want["sender_id"])
    assert msg.raw["media_url"] == want["media_url"] and "api_key" not in msg.raw["form"]
    assert msg.address.chat_id == case["client"] and msg.key == msg.provider_message_id


def test_the_same_request_is_the_same_message_and_another_client_a_new_one() -> None:
    form = json.loads((FIXTURES / "point_with_media.json").read_text(encoding="utf-8"))["form"]
    first = parse.parse(form, "portal", NOW)
    assert parse.parse(dict(form), "portal", datetime.now(timezone.utc)).key == first.key  # a retry later
    assert parse.parse({**form, "phone": "0899"}, "portal", NOW).key == first.key  # not content
    assert parse.parse(form, "kiosk", NOW).key != first.key
    assert parse.parse({**form, "description": "Lubang lain"}, "portal", NOW).key != first.key


def test_a_description_over_the_limit_is_refused() -> None:
    form = {"service_code": "garbage", "lat": "-6.2", "long": "106.85", "description": "x" * (parse.MAX_DESCRIPTION + 1)}
    with pytest.raises(parse.Invalid, match="longer than 4000"):
        parse.parse(form, "portal", NOW)
