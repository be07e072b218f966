"""One test per Twitter fixture: what parse_page makes of each API v2 mentions page."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bots.twitter.parse import page_problem, parse_page, strip_mentions, tweet_ids
from ingest.intake import Skipped
from ingest.message import Message
from tests.conftest import FIXTURES, fixture

ACCOUNT, USERNAME = "1481234567", "CropHubJKT"
NOW = datetime(2025, 11, 24, 9, 0, tzinfo=timezone.utc)


def parse(name: str) -> list[Message | Skipped]:
    return parse_page(fixture("twitter", name), ACCOUNT, USERNAME, NOW)


def one(name: str) -> Message | Skipped:
    [item] = parse(name)
    return item


def test_mention_with_place() -> None:
    msg = one("mention_with_place")
    assert isinstance(msg, Message)
    assert msg.channel == "twitter" and msg.key == "1990000000000000101" == msg.provider_message_id
    # Both leading handles are gone; Twitter's &amp; is read back as "&".
    assert msg.text.startswith("banjir setinggi paha di Jl. Jatinegara Barat") and "mogok & arus" in msg.text
    assert msg.sender.id == "987654321" and msg.sender.name == "Budi Santoso" and msg.sender.username == "budisan"
    assert msg.address.model_dump(exclude_none=True) == {
        "channel": "twitter", "chat_id": "987654321", "bot": ACCOUNT, "reply_to": "1990000000000000101"}
    loc = msg.location
    assert loc is not None and loc.title == "Jatinegara, Indonesia"
    assert (loc.lat, loc.lon) == pytest.approx((-6.2225, 106.877))  # centre of [west, south, east, north]
    assert 2000 < (loc.accuracy_m or 0) < 4000  # a neighbourhood, not a street corner
    assert msg.language_hint == "id"  # Twitter's "in"
    assert msg.sent_at == datetime(2025, 11, 24, 2, 15, 30, tzinfo=timezone.utc) and msg.received_at == NOW
    assert msg.reply_to is None and msg.media == [] and msg.command is None
    assert msg.raw["data"]["id"] == msg.key
    assert [p["id"] for p in msg.raw["includes"]["places"]] == ["5b0b1a3c6e2e8f01"]
    assert [u["id"] for u in msg.raw["includes"]["users"]] == ["987654321"]  # only the includes it uses


def test_mention_with_coordinates() -> None:
    msg = one("mention_with_coordinates")
    assert isinstance(msg, Message) and msg.location is not None
    # The exact point wins over the tagged place; GeoJSON order is [lon, lat].
    assert (msg.location.lat, msg.location.lon) == (-6.225014, 106.900447)
    assert msg.location.title is None and msg.location.accuracy_m is None
    assert msg.text.startswith("Genangan air di Jl. Pahlawan Revolusi") and msg.sender.username == "sitirahma_jkt"


def test_mention_with_photo() -> None:
    msg = one("mention_with_photo")
    assert isinstance(msg, Message)
    [photo] = msg.media
    assert (photo.kind, photo.file_id, photo.width, photo.height) == (
        "photo", "https://pbs.twimg.com/media/GdK3xQ1bEAAq9Zr.jpg", 1536, 2048)
    # The t.co link Twitter appends for the photo is not part of what the citizen wrote.
    assert msg.text.endswith("bau sekali") and "t.co" not in msg.text
    assert msg.sender.name == "Rina 🌧" and msg.raw["includes"]["media"][0]["media_key"] == "3_1990000000000000090"


def test_retweet_is_named_and_ignored() -> None:
    skip = one("retweet")
    assert isinstance(skip, Skipped) and skip.status == "ignored" and skip.reason == "retweet"
    assert skip.key == "1990000000000000104" and skip.channel == "twitter"


def test_own_tweet_is_named_and_ignored() -> None:
    skip = one("own_tweet")
    assert isinstance(skip, Skipped) and skip.status == "ignored" and skip.reason == "the account's own tweet"
    assert skip.key == "1990000000000000105"


def test_reply_to_our_tweet_is_a_reply() -> None:
    msg = one("reply_to_our_tweet")
    assert isinstance(msg, Message)
    assert msg.reply_to == "1990000000000000105"  # our tweet: the router finds its outbox row by this id
    assert msg.address.reply_to == "1990000000000000106"  # our answer goes under the citizen's reply
    assert msg.text == "Airnya sudah mulai surut pak, tapi lumpurnya masih tebal di depan gang 5"


def test_command_status() -> None:
    msg = one("command_status")
    assert isinstance(msg, Message)
    assert msg.command == "/status" and msg.text == "/status JKT-2025-000117" and msg.language_hint is None


def test_no_text_is_rejected_and_the_other_tweet_kept() -> None:
    good, empty = parse("no_text")
    assert isinstance(good, Message) and good.key == "1990000000000000108"
    assert good.text == "Lampu lalu lintas perempatan Matraman mati sejak pagi @CropHubJKT"  # only leading handles go
    assert isinstance(empty, Skipped) and empty.status == "rejected" and empty.key == "1990000000000000107"
    assert empty.reason.startswith("no text")


def test_english_with_video() -> None:
    msg = one("english_with_video")
    assert isinstance(msg, Message)
    assert msg.language_hint == "en" and msg.text == "fallen tree blocking Jl. Taman Margasatwa near Ragunan gate"
    assert msg.media == []  # a video is not a photo


def test_malformed_no_author_is_rejected_and_the_other_tweet_kept() -> None:
    bad, good = parse("malformed_no_author")
    assert isinstance(bad, Skipped) and bad.status == "rejected" and bad.reason == "tweet has no author_id"
    assert bad.key == "1990000000000000111"
    assert isinstance(good, Message) and good.text.startswith("parkir liar di trotoar Jl. Sabang")


def test_malformed_page_is_rejected_with_a_stable_key() -> None:
    page = fixture("twitter", "malformed_page")
    [skip] = parse("malformed_page")
    assert isinstance(skip, Skipped) and skip.status == "rejected"
    assert skip.reason == "page data is a str, not a list of tweets" == page_problem(page)
    assert skip.key.startswith("sha256:") and skip.key == one("malformed_page").key  # replays dedupe
    assert tweet_ids(page) == []


def test_empty_page() -> None:
    assert parse("empty_page") == []


def test_every_fixture_has_a_test() -> None:
    names = {p.stem for p in (FIXTURES / "twitter").glob("*.json")}
    tested = {name for name in names if f'"{name}"' in open(__file__, encoding="utf-8").read()}
    assert names == tested


@pytest.mark.parametrize("raw, reason", [
    (["not", "a", "page"], "page is a list, not a JSON object"),
    ("garbage", "page is a str, not a JSON object"),
])
def test_a_page_that_is_not_an_object_is_rejected(raw: object, reason: str) -> None:
    [skip] = parse_page(raw, ACCOUNT, USERNAME, NOW)
    assert isinstance(skip, Skipped) and skip.status == "rejected" and skip.reason == reason


@pytest.mark.parametrize("tweet, reason", [
    ({"text": "@CropHubJKT banjir", "author_id": "1"}, "tweet has no id"),
    ("1990000000000000999", "tweet is a str, not a JSON object"),
    ({"id": "1990000000000000998", "author_id": "5", "text": "@CropHubJKT banjir",
      "geo": {"coordinates": {"type": "Point", "coordinates": [106.9, -96.2]}}}, "ValidationError"),
    ({"id": "1990000000000000997", "author_id": "5", "text": "banjir", "created_at": "kemarin sore"}, "ValueError"),
    ({"id": "1990000000000000996", "author_id": "5", "text": "banjir", "referenced_tweets": 7}, "TypeError"),
])
def test_malformed_tweets_are_rejected_with_a_reason(tweet: object, reason: str) -> None:
    [skip] = parse_page({"data": [tweet]}, ACCOUNT, USERNAME, NOW)
    assert isinstance(skip, Skipped) and skip.status == "rejected" and reason in skip.reason
    assert json.dumps(skip.raw)  # kept for inspection as JSON


def test_strip_mentions() -> None:
    assert strip_mentions("@DKIJakarta @TMCPoldaMetro banjir di @kampung") == "banjir di @kampung"
    assert strip_mentions("@CropHubJKT: pohon tumbang") == "pohon tumbang"
    assert strip_mentions("  @a @b  ") == ""
    assert strip_mentions("email saya budi@example.com") == "email saya budi@example.com"
