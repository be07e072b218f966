"""The tweepy client for the configured API server, and how to read its rate-limit headers."""
from __future__ import annotations

import logging
import random
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from bots.twitter.config import TwitterSettings

TWITTER_HOST = "https://api.twitter.com"  # tweepy writes this into every request URL
DEFAULT_WAIT = 60.0  # a 429 without x-rate-limit-reset: wait this long (capped like any other wait)
MIN_WAIT = 1.0  # resets are whole seconds and clocks drift: never wait less, never spin

# tweepy logs every request's headers at DEBUG, the bearer token among them: keep that out of our logs
# even when crophub runs at DEBUG (set the "tweepy" logger's level explicitly to see them anyway).
if logging.getLogger("tweepy").level == logging.NOTSET:
    logging.getLogger("tweepy").setLevel(logging.INFO)


class BaseURLAdapter(HTTPAdapter):
    """Sends requests tweepy addressed to api.twitter.com to the configured base URL instead, and gives
    every request the configured timeout (tweepy's Client sets none, so a stalled server would hang it)."""

    def __init__(self, base_url: str, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base_url.rstrip("/"))
        self.scheme, self.netloc, self.prefix = parts.scheme, parts.netloc, parts.path
        self.timeout = timeout

    def rewrite(self, url: str) -> str:
        """`url` with the scheme and host of the base URL, its path prefixed by the base URL's path."""
        parts = urlsplit(url)
        return urlunsplit((self.scheme, self.netloc, self.prefix + parts.path, parts.query, parts.fragment))

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        """Send `request` to the rewritten URL."""
        request.url = self.rewrite(request.url or "")
        if proxies and requests.utils.should_bypass_proxies(request.url, no_proxy=None):
            # The session chose proxies for api.twitter.com; a local server named in no_proxy must not use them.
            proxies = {}
        return super().send(request, stream=stream, timeout=timeout if timeout is not None else self.timeout,
                            verify=verify, cert=cert, proxies=proxies)


def route(session: requests.Session, settings: TwitterSettings) -> None:
    """Mount the base-URL adapter on a tweepy session (Client or StreamingClient)."""
    session.mount(TWITTER_HOST + "/", BaseURLAdapter(settings.api_base_url, settings.timeout))


def make_client(settings: TwitterSettings) -> tweepy.Client:
    """A tweepy Client (bearer token; OAuth 1.0a user keys when present) routed to the configured server.

    It returns the raw `requests.Response`: the poller needs the rate-limit headers, and reads the JSON
    itself so that a malformed body is rejected as input instead of failing inside tweepy."""
    client = tweepy.Client(bearer_token=settings.secret("bearer_token_env"),
                           consumer_key=settings.secret("consumer_key_env"),
                           consumer_secret=settings.secret("consumer_secret_env"),
                           access_token=settings.secret("access_token_env"),
                           access_token_secret=settings.secret("access_token_secret_env"),
                           return_type=requests.Response, wait_on_rate_limit=False)
    route(client.session, settings)
    return client


def header_number(response: Any, name: str) -> float | None:
    """A numeric header of a response (requests or aiohttp), or None when absent or not a number."""
    headers = getattr(response, "headers", None) or {}
    try:
        return float(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


def remaining(response: Any) -> float | None:
    """x-rate-limit-remaining: requests left in this window."""
    return header_number(response, "x-rate-limit-remaining")


def reset_wait(response: Any, max_wait: float, now: float | None = None) -> float:
    """Seconds until the rate-limit window of `response` resets: at least MIN_WAIT, at most `max_wait`,
    with a little jitter so several processes do not all retry in the same instant.

    Posting also has a per-user 24-hour limit; when that one is spent, its own reset is what counts."""
    now = time.time() if now is None else now
    resets = [header_number(response, "x-rate-limit-reset")]
    if header_number(response, "x-user-limit-24hour-remaining") == 0:
        resets.append(header_number(response, "x-user-limit-24hour-reset"))
    known = [r for r in resets if r is not None]
    base = max(known) - now if known else DEFAULT_WAIT
    return min(max_wait, max(MIN_WAIT, base) * random.uniform(1.0, 1.1))
