"""Replies as threaded tweets from the city's account, built from the channel's config section alone."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import requests
import tweepy

from bots.base import coerce
from bots.errors import PermanentError, RateLimited, TransientError
from bots.twitter import client as tw
from bots.twitter.config import SECRETS, TwitterSettings
from ingest.message import Address

TWEET_LIMIT = 280  # weighted characters per tweet
URL_LENGTH = 23  # every URL counts as a t.co link
_URL = re.compile(r"https?://\S+")
# twitter-text v3: code points in these ranges weigh 1, all others (CJK, emoji, ...) 2.
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_MEMO_SIZE = 1000  # split replies whose first parts were posted and whose rest failed, kept for a retry

log = logging.getLogger(__name__)


def weighted_length(text: str) -> int:
    """Twitter's length of `text`: URLs 23, Latin and most punctuation 1, other code points 2.

    Simplified from twitter-text: an emoji sequence counts per code point (2 each), which can only
    overcount, so a part we post is never too long."""
    length, last = 0, 0
    for match in _URL.finditer(text):
        length += _weigh(text[last:match.start()]) + URL_LENGTH
        last = match.end()
    return length + _weigh(text[last:])


def _weigh(text: str) -> int:
    return sum(1 if any(lo <= ord(c) <= hi for lo, hi in _LIGHT) else 2 for c in text)


def split(text: str, limit: int = TWEET_LIMIT) -> list[str]:
    """`text` as tweets of at most `limit`, broken at whitespace (at a line break when one is near the end),
    each marked " (i/n)" when there is more than one."""
    text = text.strip()
    if weighted_length(text) <= limit:
        return [text]
    count = 2
    while True:  # the marker's width depends on the number of parts, which depends on the marker's width
        width = weighted_length(f" ({count}/{count})")
        parts = _chunks(text, limit - width)
        if len(str(len(parts))) <= len(str(count)):
            return [f"{p} ({i}/{len(parts)})" for i, p in enumerate(parts, 1)]
        count = len(parts)


def _chunks(text: str, budget: int) -> list[str]:
    """Greedy pieces of at most `budget`, breaking at whitespace; a word longer than that is cut."""
    parts: list[str] = []
    current = ""
    for word, space in re.findall(r"(\S+)(\s*)", text):
        if weighted_length(current + word) <= budget:
            current += word + space
            continue
        if current.strip():  # the part is full: post it (up to its last line break when that is near the end)
            head, current = _break_at_line(current, budget)
            parts.append(head)
            if current.strip() and weighted_length(current + word) > budget:
                parts.append(current.strip())
                current = ""
            if weighted_length(current + word) <= budget:
                current += word + space
                continue
        while weighted_length(word) > budget:  # one word longer than a tweet: cut it
            cut = _fit(word, budget)
            parts.append(word[:cut])
            word = word[cut:]
        current = word + space
    if current.strip():
        parts.append(current.strip())
    return parts


def _break_at_line(chunk: str, budget: int) -> tuple[str, str]:
    """A full chunk, broken at its last line break when that keeps at least half of it (a menu's items
    stay whole); → (the part to post, what carries over)."""
    body = chunk.rstrip()
    cut = body.rfind("\n")
    if cut > 0 and weighted_length(body[:cut]) >= budget // 2:
        return body[:cut].rstrip(), body[cut + 1:].lstrip("\n") + chunk[len(body):]
    return body, ""


def _fit(word: str, budget: int) -> int:
    """How many characters of `word` fit in `budget`."""
    cut = 0
    while cut < len(word) and weighted_length(word[:cut + 1]) <= budget:
        cut += 1
    return max(cut, 1)


class TwitterSender:
    """Posts replies as tweets threaded under the citizen's; maps API errors to those in bots.errors."""

    def __init__(self, config: Mapping[str, Any] | TwitterSettings) -> None:
        self.settings = coerce(TwitterSettings, config)
        self.max_wait = self.settings.max_rate_limit_wait
        self._local = threading.local()  # one client per worker thread: a requests.Session is not thread-safe
        # (chat, tweet answered, text) → ids of the parts already posted, when a later part failed: a retry
        # goes on from there instead of posting them again (Twitter would refuse them as duplicates).
        self._posted: OrderedDict[str, list[str]] = OrderedDict()
        self._lock = threading.Lock()

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Post `text` in reply to the tweet in `address`, split into a thread when longer than a tweet;
        return the id of the last tweet (where a citizen's reply to the thread lands). `extras` is not
        shown: a Telegram photo id means nothing here, and the router turns buttons into a numbered menu.
        A tweet cannot lose buttons nor answer a press: clear_buttons and toast are ignored, and a row with no
        text (one that only carried them) posts nothing and returns ""."""
        if not text.strip():
            return ""
        missing = [getattr(self.settings, key) for key in SECRETS if not self.settings.secret(key)]
        if missing:
            raise PermanentError(f"twitter: cannot post replies without the account's OAuth 1.0a keys "
                                 f"(set {', '.join(missing)})")
        reply_to = address.reply_to or ""
        if not reply_to.isdigit():
            raise PermanentError("twitter: no tweet to reply to (a reply is never posted as a public tweet)")
        parts = split(text)
        if not parts or not parts[0]:
            raise PermanentError("twitter: empty reply")
        key = hashlib.sha256(f"{address.chat_key}\0{reply_to}\0{text}".encode()).hexdigest()
        with self._lock:
            posted = list(self._posted.get(key, []))
        previous = posted[-1] if posted else reply_to
        for part in parts[len(posted):]:
            # A part whose id is unknown (see _post) was posted all the same: the next goes under the last known.
            tweet_id = await asyncio.to_thread(self._post, part, previous)
            previous = tweet_id or previous
            posted.append(previous)
            if len(posted) < len(parts):
                self._remember(key, posted)
        with self._lock:
            self._posted.pop(key, None)
        return previous

    def _remember(self, key: str, posted: list[str]) -> None:
        with self._lock:
            self._posted[key] = list(posted)
            self._posted.move_to_end(key)
            while len(self._posted) > _MEMO_SIZE:
                self._posted.popitem(last=False)

    def _client(self) -> tweepy.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = tw.make_client(self.settings)
        return client

    def _post(self, text: str, in_reply_to: str) -> str | None:
        """Post one tweet in reply to `in_reply_to`; → its id, or None when it was posted but its id is unknown."""
        try:
            response = self._client().create_tweet(text=text, in_reply_to_tweet_id=in_reply_to, user_auth=True)
        except tweepy.TooManyRequests as exc:
            raise RateLimited(tw.reset_wait(exc.response, self.max_wait), "by Twitter") from exc
        except tweepy.TwitterServerError as exc:
            raise TransientError(f"twitter: {exc}".replace("\n", " ")) from exc
        except tweepy.Forbidden as exc:
            if "duplicate" in str(exc).lower():
                # The same text is already there: posted by an attempt whose answer was lost (a timeout, a
                # worker that died), or an identical update. Posting it again would change nothing.
                log.info("twitter: reply under %s already posted (duplicate content); counted as sent", in_reply_to)
                return None
            raise PermanentError(f"twitter: {exc}".replace("\n", " ")) from exc
        except tweepy.HTTPException as exc:  # 400, 401, 404: sending again won't help
            raise PermanentError(f"twitter: {exc}".replace("\n", " ")) from exc
        except requests.RequestException as exc:  # connection refused, reset, timeout
            raise TransientError(f"twitter: {type(exc).__name__}: {exc}") from exc
        try:
            return str(response.json()["data"]["id"])
        except (ValueError, KeyError, TypeError) as exc:
            # A 2xx: the tweet is up. Retrying would post it twice.
            log.warning("twitter: reply under %s posted, but its answer was unreadable (%s)", in_reply_to, exc)
            return None
