"""The tweepy client for the configured API server, and how to read its rate-limit headers."""
from __future__ import annotations

import logging
import os
import random
import time
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

TWITTER_HOST = "https://api.twitter.com"  # tweepy writes this into every request URL
DEFAULT_TIMEOUT = 30.0  # seconds per request, as twitter.timeout documents
DEFAULT_MAX_WAIT = 900.0  # twitter.max_rate_limit_wait: one 15-minute rate-limit window
DEFAULT_WAIT = 60.0  # a 429 without x-rate-limit-reset: wait this long (capped like any other wait)
MIN_WAIT = 1.0  # resets are whole seconds and clocks drift: never wait less, never spin

# Credential → (direct config key for tests, config key naming the env var, its default name).
_CREDENTIALS = {
    "bearer_token": ("bearer_token_env", "CROPHUB_TWITTER_BEARER_TOKEN"),
    "consumer_key": ("consumer_key_env", "CROPHUB_TWITTER_CONSUMER_KEY"),
    "consumer_secret": ("consumer_secret_env", "CROPHUB_TWITTER_CONSUMER_SECRET"),
    "access_token": ("access_token_env", "CROPHUB_TWITTER_ACCESS_TOKEN"),
    "access_token_secret": ("access_token_secret_env", "CROPHUB_TWITTER_ACCESS_TOKEN_SECRET"),
}
USER_CREDENTIALS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")

# tweepy logs every request's headers at DEBUG, the bearer token among them: keep that out of our logs
# even when crophub runs at DEBUG (set the "tweepy" logger's level explicitly to see them anyway).
if logging.getLogger("tweepy").level == logging.NOTSET:
    logging.getLogger("tweepy").setLevel(logging.INFO)


def secret(config: Mapping[str, Any], name: str) -> str | None:
    """A credential: the config's own key (tests), else the environment variable its *_env key names."""
    env_key, default_env = _CREDENTIALS[name]
    return config.get(name) or os.environ.get(config.get(env_key) or default_env) or None


def env_name(config: Mapping[str, Any], name: str) -> str:
    """The environment variable a credential is read from, for messages that say what to set."""
    env_key, default_env = _CREDENTIALS[name]
    return str(config.get(env_key) or default_env)


class BaseURLAdapter(HTTPAdapter):
    """Sends requests tweepy addressed to api.twitter.com to the configured base URL instead, and gives
    every request the configured timeout (tweepy's Client sets none, so a stalled server would hang it)."""

    def __init__(self, base_url: str, timeout: float | None = DEFAULT_TIMEOUT, **kwargs: Any) -> None:
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


def route(session: requests.Session, config: Mapping[str, Any]) -> None:
    """Mount the base-URL adapter on a tweepy session (Client or StreamingClient)."""
    adapter = BaseURLAdapter(str(config.get("api_base_url") or TWITTER_HOST),
                             float(config.get("timeout") or DEFAULT_TIMEOUT))
    session.mount(TWITTER_HOST + "/", adapter)


def make_client(config: Mapping[str, Any]) -> tweepy.Client:
    """A tweepy Client (bearer token; OAuth 1.0a user keys when present) routed to the configured server.

    It returns the raw `requests.Response`: the poller needs the rate-limit headers, and reads the JSON
    itself so that a malformed body is rejected as input instead of failing inside tweepy."""
    client = tweepy.Client(**{name: secret(config, name) for name in _CREDENTIALS},
                           return_type=requests.Response, wait_on_rate_limit=False)
    route(client.session, config)
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


def reset_wait(response: Any, max_wait: float = DEFAULT_MAX_WAIT, now: float | None = None) -> float:
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
