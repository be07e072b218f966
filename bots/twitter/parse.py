"""API v2 mention pages (tweets + includes) → `Message`s, or named skips. Pure: no I/O."""
from __future__ import annotations

import html
import math
import re
from datetime import datetime
from typing import Any, TypeGuard

from ingest.intake import Skipped, payload_key
from ingest.message import Address, Location, Media, Message, Sender

from bots.twitter import NAME as CHANNEL  # noqa: E402

# Replies and mentions start with the handles they address ("@DKIJakarta @TMCPoldaMetro banjir ...").
_LEADING_HANDLES = re.compile(r"^(?:\s*@\w{1,15}\b[:,]?)+\s*")
# Twitter's old code for Indonesian is "in"; the router knows "id" and "en".
_LANGUAGES = {"id": "id", "in": "id", "en": "en"}
_EARTH_RADIUS_M = 6_371_000.0


def parse_page(page: Any, account_id: str, account_username: str | None, now: datetime) -> list[Message | Skipped]:
    """Every tweet of one response page (GET /2/users/:id/mentions, or a stream item) as a Message or a skip.

    A malformed page (not a JSON object, data not a list of tweets) is one rejected item."""
    problem = page_problem(page)
    if problem:
        return [_reject(page, problem)]
    data = page.get("data")
    if data is None:
        return []  # no mentions (meta.result_count 0), or only partial errors about referenced objects
    includes = page.get("includes") if isinstance(page.get("includes"), dict) else {}
    return [parse_tweet(tweet, includes, account_id, account_username, now)
            for tweet in ([data] if isinstance(data, dict) else data)]  # a stream item carries one tweet


def page_problem(page: Any) -> str | None:
    """Why a page as a whole cannot be read (its tweets are unknown), or None."""
    if not isinstance(page, dict):
        return f"page is a {type(page).__name__}, not a JSON object"
    data = page.get("data")
    if data is not None and not isinstance(data, (list, dict)):
        return f"page data is a {type(data).__name__}, not a list of tweets"
    return None


def parse_tweet(tweet: Any, includes: dict[str, Any], account_id: str, account_username: str | None,
                now: datetime) -> Message | Skipped:
    """One tweet, with the page's includes, as a Message; own tweets and retweets are ignored, malformed rejected."""
    if not isinstance(tweet, dict):
        return _reject(tweet, f"tweet is a {type(tweet).__name__}, not a JSON object")
    tweet_id = tweet.get("id")
    if not _is_id(tweet_id):
        return _reject(tweet, "tweet has no id")
    raw: dict[str, Any] = {"data": tweet}
    try:
        raw = _raw(tweet, includes)
        author_id = tweet.get("author_id")
        if not _is_id(author_id):
            return _reject(raw, "tweet has no author_id", tweet_id)
        user = _by_key(includes.get("users"), "id").get(author_id, {})
        own_name = (account_username or "").lstrip("@").lower()
        if author_id == str(account_id) or (own_name and str(user.get("username") or "").lower() == own_name):
            return Skipped(CHANNEL, tweet_id, "ignored", "the account's own tweet", raw)
        if _referenced(tweet, "retweeted"):
            return Skipped(CHANNEL, tweet_id, "ignored", "retweet", raw)
        return _message(tweet, includes, user, raw, account_id, now)
    except Exception as exc:  # whatever a malformed tweet makes the mapping raise, it is the tweet's fault
        return _reject(raw, f"{type(exc).__name__}: {exc}".replace("\n", " "), tweet_id)


def strip_mentions(text: str) -> str:
    """The text without the @handles it starts with (the addressees of a mention or reply)."""
    return _LEADING_HANDLES.sub("", text, count=1).strip()


def _message(tweet: dict[str, Any], includes: dict[str, Any], user: dict[str, Any], raw: dict[str, Any],
             account_id: str, now: datetime) -> Message | Skipped:
    tweet_id, author_id = str(tweet["id"]), str(tweet["author_id"])
    media = _photos(tweet, includes)
    location = _location(tweet, includes)
    text = tweet.get("text")
    if text is not None and not isinstance(text, str):
        raise TypeError(f"text is a {type(text).__name__}")
    text = strip_mentions(_drop_media_links(html.unescape(text or ""), tweet))
    if not text and not media and location is None:
        return _reject(raw, "no text (nothing but mentions, and no photo or location)", tweet_id)
    replied = _referenced(tweet, "replied_to")
    created = tweet.get("created_at")
    # "@CropHubJKT /status JKT-..." is the command Telegram users type; replies tell Twitter users of it too.
    command = text.split(maxsplit=1)[0].split("@", 1)[0].lower() if text.startswith("/") else None
    return Message(
        channel=CHANNEL,
        key=tweet_id,
        sender=Sender(id=author_id, name=user.get("name") or None, username=user.get("username") or None),
        address=Address(channel=CHANNEL, chat_id=author_id, bot=str(account_id), reply_to=tweet_id),
        text=text,
        media=media,
        location=location,
        provider_message_id=tweet_id,
        # A reply to one of our tweets is read as a reply to it (the router finds our outbox row by its id).
        reply_to=replied,
        command=command or None,
        language_hint=_LANGUAGES.get(str(tweet.get("lang") or "").lower()),
        sent_at=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
        received_at=now,
        raw=raw,
    )


def _photos(tweet: dict[str, Any], includes: dict[str, Any]) -> list[Media]:
    """Photos attached to the tweet, by their public URL (videos and GIFs are not photos: left out)."""
    keys = (tweet.get("attachments") or {}).get("media_keys") or []
    media = _by_key(includes.get("media"), "media_key")
    photos = []
    for key in keys:
        item = media.get(str(key))
        if item and item.get("type") == "photo" and item.get("url"):
            photos.append(Media(kind="photo", file_id=item["url"], width=item.get("width"), height=item.get("height")))
    return photos


def _location(tweet: dict[str, Any], includes: dict[str, Any]) -> Location | None:
    """The tweet's exact point when it has one, else the centre of its tagged place's bounding box.

    A place's centre carries an accuracy (half the box's diagonal) and the place's name, so that a
    city-sized place is not taken for a street corner."""
    geo = tweet.get("geo") or {}
    point = geo.get("coordinates")
    if point:
        lon, lat = point["coordinates"]  # GeoJSON order
        return Location(lat=float(lat), lon=float(lon))
    place_id = geo.get("place_id")
    if not place_id:
        return None
    place = _by_key(includes.get("places"), "id").get(str(place_id)) or {}
    bbox = (place.get("geo") or {}).get("bbox")
    if not bbox:
        return None  # the place was not expanded, or has no box: the text may still name a place
    west, south, east, north = (float(v) for v in bbox)
    lat, lon = (south + north) / 2, (west + east) / 2
    return Location(lat=lat, lon=lon, accuracy_m=round(_half_diagonal(west, south, east, north)),
                    title=place.get("full_name") or place.get("name"), area=True)


def _half_diagonal(west: float, south: float, east: float, north: float) -> float:
    """Half the box's diagonal in metres (equirectangular: plenty for a city-sized box)."""
    dx = math.radians(east - west) * math.cos(math.radians((south + north) / 2))
    dy = math.radians(north - south)
    return _EARTH_RADIUS_M * math.hypot(dx, dy) / 2


def _drop_media_links(text: str, tweet: dict[str, Any]) -> str:
    """The text without the t.co links Twitter appends for attached media (the photo is kept as media)."""
    for url in (tweet.get("entities") or {}).get("urls") or []:
        if isinstance(url, dict) and url.get("media_key") and url.get("url"):
            text = text.replace(url["url"], "")
    return text.strip()


def _referenced(tweet: dict[str, Any], kind: str) -> str | None:
    """The id of the tweet this one references as `kind` (replied_to, retweeted, quoted)."""
    for ref in tweet.get("referenced_tweets") or []:
        if isinstance(ref, dict) and ref.get("type") == kind and _is_id(ref.get("id")):
            return str(ref["id"])
    return None


def _raw(tweet: dict[str, Any], includes: dict[str, Any]) -> dict[str, Any]:
    """The tweet with the included users, places, media and tweets it refers to (what the store keeps)."""
    geo, attachments = tweet.get("geo") or {}, tweet.get("attachments") or {}
    wanted = {
        "users": ("id", {str(tweet.get("author_id"))}),
        "places": ("id", {str(geo.get("place_id"))} if isinstance(geo, dict) else set()),
        "media": ("media_key", {str(k) for k in (attachments.get("media_keys") or [])}
                  if isinstance(attachments, dict) else set()),
        "tweets": ("id", {str(r.get("id")) for r in (tweet.get("referenced_tweets") or []) if isinstance(r, dict)}),
    }
    used = {}
    for name, (field, ids) in wanted.items():
        items = [i for i in includes.get(name) or [] if isinstance(i, dict) and str(i.get(field)) in ids]
        if items:
            used[name] = items
    return {"data": tweet, **({"includes": used} if used else {})}


def _by_key(items: Any, field: str) -> dict[str, dict[str, Any]]:
    return {str(i[field]): i for i in items or [] if isinstance(i, dict) and field in i}


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and value.isdigit()


def _reject(raw: Any, reason: str, key: str | None = None) -> Skipped:
    return Skipped(CHANNEL, key or payload_key(raw), "rejected", reason, raw)


def newest_id(ids: list[str]) -> str | None:
    """The newest of some tweet ids (compared as numbers: ids grow, but not in string order)."""
    return max(ids, key=int) if ids else None


def tweet_ids(page: Any) -> list[str]:
    """The ids of the tweets a page carries (what a cursor may move past once the page is stored)."""
    if not isinstance(page, dict):
        return []
    data = page.get("data")
    data = [data] if isinstance(data, dict) else data if isinstance(data, list) else []
    return [t["id"] for t in data if isinstance(t, dict) and _is_id(t.get("id"))]
