"""A fake Twitter API v2 server: aiohttp on 127.0.0.1 speaking the real JSON protocol over HTTP.

Driven by the real tweepy client in tests. It holds mentions of accounts (tweets with their users,
places and media) and answers GET /2/users/:id/mentions as the API does: newest first, since_id /
until_id / max_results / pagination_token, `meta` with newest_id, oldest_id, result_count and
next_token, and `includes` built for the requested expansions, with only the requested fields. It
records tweets posted with POST /2/tweets (checking an OAuth 1.0a header; duplicate text is refused
with 403 as Twitter does), serves the filtered stream and its rules, sends x-rate-limit-* headers on
every answer (and answers 429 when the window is spent), can be told to fail the next requests (429
with a reset, 500, a body that is not JSON), and records every request with its time and query.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.loopback import LoopbackServer

BEARER = "AAAA-fake-bearer-token-for-crophub"
USER_KEYS = {"consumer_key": "fake-consumer-key", "consumer_secret": "fake-consumer-secret",
             "access_token": "1481234567-fake-access-token", "access_token_secret": "fake-access-secret"}
# Where credentials() puts them: not the default names, so that no test turns the channel on by accident.
CREDENTIAL_ENV = {name: f"CROPHUB_TEST_TWITTER_{name.upper()}" for name in ("bearer_token", *USER_KEYS)}

# Fields the API returns without being asked; others only when named in *.fields.
_DEFAULT_FIELDS = {"tweets": {"id", "text", "edit_history_tweet_ids"}, "users": {"id", "name", "username"},
                   "places": {"id", "full_name"}, "media": {"media_key", "type"}}
_FIELDS_PARAM = {"tweets": "tweet.fields", "users": "user.fields", "places": "place.fields", "media": "media.fields"}
_URL = re.compile(r"https?://\S+")
PREFIX = "/gateway/twitter"  # the API is also served under this path
_LIMIT_HEADERS: Any = web.RequestKey("limit_headers", dict) if hasattr(web, "RequestKey") else "limit_headers"


def credentials(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put the fake's credentials in the environment (undone after the test); → the *_env keys of a twitter
    section that name them."""
    for name, value in {"bearer_token": BEARER, **USER_KEYS}.items():
        monkeypatch.setenv(CREDENTIAL_ENV[name], value)
    return {f"{name}_env": env for name, env in CREDENTIAL_ENV.items()}


@dataclass
class Failure:
    """One canned answer for the next matching request."""

    status: int
    body: bytes
    reset_in: float | None = None  # for a 429: x-rate-limit-reset this far ahead


@dataclass
class Call:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() when it arrived
    status: int = 0
    auth: str = ""
    body: Any = None


@dataclass
class _Window:
    limit: int = 450
    remaining: int = 450
    reset: int = field(default_factory=lambda: int(time.time()) + 900)


class FakeTwitterAPI(LoopbackServer):
    """The server's state and handlers; run it in a thread with start()/stop()."""

    name = "fake Twitter API"
    shutdown_timeout = 0.5  # the stream endpoint holds its response open

    def __init__(self, bearer: str = BEARER) -> None:
        self.bearer = bearer
        self.tweets: dict[str, dict[str, Any]] = {}  # id → tweet (full object, all fields)
        self.mentions: dict[str, set[str]] = {}  # user id → ids of tweets mentioning them
        self.users: dict[str, dict[str, Any]] = {}
        self.places: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self.posted: list[dict[str, Any]] = []  # POST /2/tweets bodies, with the id given and time
        self.calls: list[Call] = []
        self.failures: dict[str, list[Failure]] = {}  # "GET" / "POST" → canned answers, in order
        self.rules: list[dict[str, str]] = []
        self.windows: dict[str, _Window] = {}  # per endpoint kind ("mentions", "tweets", "stream", "rules")
        self._ids = itertools.count(1995000000000000001)  # newer than the fixtures' tweets
        self._rule_ids = itertools.count(1700000000000000001)
        self._stream_queue: asyncio.Queue[bytes] | None = None
        self.keepalive = 0.2  # seconds between the stream's keep-alive newlines (Twitter: 20)
        self._lock = threading.Lock()

    # --- control, from any thread --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for twitter.api_base_url."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget every tweet, call, failure and rule (between tests)."""
        with self._lock:
            for store in (self.tweets, self.mentions, self.users, self.places, self.media, self.failures,
                          self.windows):
                store.clear()
            self.posted.clear()
            self.calls.clear()
            self.rules.clear()

    def add_page(self, page: dict[str, Any], mentioned: str) -> list[str]:
        """Hold every tweet of an API-shaped page (data + includes) as mentioning user `mentioned`;
        returns their ids."""
        includes = page.get("includes") or {}
        with self._lock:
            for user in includes.get("users", []):
                self.users[user["id"]] = user
            for place in includes.get("places", []):
                self.places[place["id"]] = place
            for item in includes.get("media", []):
                self.media[item["media_key"]] = item
            for tweet in includes.get("tweets", []):
                self.tweets.setdefault(tweet["id"], tweet)
            ids = []
            for tweet in page.get("data") or []:
                tweet = dict(tweet)
                tweet.setdefault("id", str(next(self._ids)))
                self.tweets[tweet["id"]] = tweet
                self.mentions.setdefault(mentioned, set()).add(tweet["id"])
                ids.append(tweet["id"])
        return ids

    def mention(self, mentioned: str, author: dict[str, Any], text: str, **fields: Any) -> str:
        """Hold a new mention of `mentioned` by `author` (a user object), with a fresh, newest id."""
        tweet = {"id": str(next(self._ids)), "text": text, "author_id": author["id"],
                 "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "lang": "in",
                 "edit_history_tweet_ids": [], **fields}
        tweet["edit_history_tweet_ids"] = [tweet["id"]]
        self.add_page({"data": [tweet], "includes": {"users": [author]}}, mentioned)
        return tweet["id"]

    def fail_next(self, method: str, status: int, times: int = 1, reset_in: float | None = None,
                  body: bytes | dict[str, Any] | None = None) -> None:
        """Answer the next `times` requests with `method` ("GET" or "POST") with this status (a 429
        carries x-rate-limit-reset `reset_in` seconds ahead) and body (an API error object by default)."""
        if body is None:
            body = {"title": _TITLES.get(status, "Error"), "detail": _TITLES.get(status, "Error"),
                    "type": "about:blank", "status": status}
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self._lock:
            self.failures.setdefault(method, []).extend([Failure(status, raw, reset_in)] * times)

    def garble_next(self, method: str = "GET", times: int = 1) -> None:
        """Answer the next `times` requests with `method` with 200 and a body that is not JSON."""
        with self._lock:
            self.failures.setdefault(method, []).extend(
                [Failure(200, b'{"data": [{"id": "19", "text": "banjir di')] * times)

    def set_window(self, kind: str, remaining: int, reset_in: float, limit: int = 450) -> None:
        """Set the rate-limit window of an endpoint kind: `remaining` requests until `reset_in` seconds from now
        (the advertised reset is a whole second, as Twitter's is)."""
        with self._lock:
            self.windows[kind] = _Window(limit, remaining, math.ceil(time.time() + reset_in))

    def push_stream(self, payload: dict[str, Any] | bytes) -> None:
        """Send one item (a stream payload, or raw bytes) to the connected filtered-stream client."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        assert self._loop is not None and self._stream_queue is not None
        self._loop.call_soon_threadsafe(self._stream_queue.put_nowait, data + b"\r\n")

    def requests(self, method: str | None = None, path: str | None = None) -> list[Call]:
        """Recorded calls, optionally of one method and path suffix."""
        with self._lock:
            return [c for c in self.calls if (method is None or c.method == method)
                    and (path is None or c.path.endswith(path))]

    # --- protocol ------------------------------------------------------------------------------

    def _limit_headers(self, kind: str) -> tuple[dict[str, str], bool]:
        """Spend one request of the endpoint's window; → its headers, and whether the window was spent."""
        with self._lock:
            window = self.windows.setdefault(kind, _Window())
            if time.time() >= window.reset:
                window.remaining, window.reset = window.limit, int(time.time()) + 900
            spent = window.remaining <= 0
            if not spent:
                window.remaining -= 1
            headers = {"x-rate-limit-limit": str(window.limit), "x-rate-limit-remaining": str(window.remaining),
                       "x-rate-limit-reset": str(window.reset)}
        return headers, spent

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            text = await request.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        call = Call(request.method, request.path, dict(request.query), time.monotonic(),
                    auth=request.headers.get("Authorization", ""), body=body)
        with self._lock:
            self.calls.append(call)
            queued = self.failures.get(request.method)
            failure = queued.pop(0) if queued else None
        kind = _kind(request.path)
        headers, spent = self._limit_headers(kind)
        if failure is not None:
            if failure.reset_in is not None:
                headers["x-rate-limit-remaining"] = "0"
                headers["x-rate-limit-reset"] = str(math.ceil(time.time() + failure.reset_in))
            call.status = failure.status
            return web.Response(status=failure.status, body=failure.body, headers=headers,
                                content_type="application/json")
        if spent:
            call.status = 429
            return web.json_response({"title": "Too Many Requests", "detail": "Too Many Requests",
                                      "type": "about:blank", "status": 429}, status=429, headers=headers)
        request[_LIMIT_HEADERS] = headers
        response = await handler(request)
        call.status = response.status
        if not response.prepared:
            response.headers.update(headers)
        return response

    def _unauthorized(self) -> web.Response:
        return web.json_response({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                  "detail": "Unauthorized"}, status=401)

    def _bearer_ok(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.bearer}"

    async def get_mentions(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._unauthorized()
        q = request.query
        try:
            max_results = int(q.get("max_results", "10"))
            since = int(q["since_id"]) if "since_id" in q else None
            until = int(q["until_id"]) if "until_id" in q else None
            below = int(q["pagination_token"].removeprefix("p")) if "pagination_token" in q else None
        except ValueError as exc:
            return _problem(400, f"Invalid query parameter: {exc}")
        if not 5 <= max_results <= 100:
            return _problem(400, f"The `max_results` query parameter value [{max_results}] is not between 5 and 100")
        with self._lock:
            ids = sorted((int(i) for i in self.mentions.get(request.match_info["id"], set())), reverse=True)
            ids = [i for i in ids if (since is None or i > since) and (until is None or i < until)
                   and (below is None or i < below)]
            page, more = ids[:max_results], len(ids) > max_results
            tweets = [self.tweets[str(i)] for i in page]
            body: dict[str, Any] = {}
            if tweets:
                body["data"] = [_fields(t, "tweets", q) for t in tweets]
                includes = self._includes(tweets, q)
                if includes:
                    body["includes"] = includes
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=str(page[0]), oldest_id=str(page[-1]))
        if more:
            # Opaque to clients; here: "older than this id", so tweets arriving meanwhile shift nothing.
            meta["next_token"] = f"p{page[-1]}"
        body["meta"] = meta
        return web.json_response(body)

    def _includes(self, tweets: list[dict[str, Any]], q: Any) -> dict[str, list[dict[str, Any]]]:
        expansions = set(filter(None, q.get("expansions", "").split(",")))
        found: dict[str, dict[str, dict[str, Any]]] = {"users": {}, "places": {}, "media": {}, "tweets": {}}
        for t in tweets:
            if "author_id" in expansions and t.get("author_id") in self.users:
                found["users"][t["author_id"]] = self.users[t["author_id"]]
            place_id = (t.get("geo") or {}).get("place_id")
            if "geo.place_id" in expansions and place_id in self.places:
                found["places"][place_id] = self.places[place_id]
            if "attachments.media_keys" in expansions:
                for key in (t.get("attachments") or {}).get("media_keys", []):
                    if key in self.media:
                        found["media"][key] = self.media[key]
            if "referenced_tweets.id" in expansions:
                for ref in t.get("referenced_tweets") or []:
                    if ref.get("id") in self.tweets:
                        found["tweets"][ref["id"]] = self.tweets[ref["id"]]
        return {kind: [_fields(obj, kind, q) for obj in objs.values()] for kind, objs in found.items() if objs}

    async def post_tweet(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        # OAuth 1.0a user context: the scheme and its signature parameters (the signature is not checked).
        if not (auth.startswith("OAuth ") and "oauth_consumer_key=" in auth and "oauth_signature=" in auth):
            return web.json_response({"title": "Unauthorized", "type": "about:blank", "status": 401,
                                      "detail": "Unauthorized"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            return _problem(400, "Request body is not valid JSON")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text:
            return _problem(400, "Tweet text is empty")
        if weighted_length(text) > 280:
            return web.json_response({"title": "Forbidden", "type": "about:blank", "status": 403,
                                      "detail": "Your Tweet text is too long."}, status=403)
        reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        with self._lock:
            # Twitter puts the replied-to author's handle in front of a reply, so the same words to two
            # people differ; the same words to the same person (or as a plain tweet) are a duplicate.
            audience = self._audience(reply)
            if any(p["text"] == text and p["audience"] == audience for p in self.posted):
                return web.json_response({"title": "Forbidden", "type": "about:blank", "status": 403,
                                          "detail": "You are not allowed to create a Tweet with duplicate content."},
                                         status=403)
            tweet_id = str(next(self._ids))
            self.posted.append({"id": tweet_id, "text": text, "in_reply_to_tweet_id": reply, "at": time.monotonic(),
                                "audience": audience, "body": body})
        return web.json_response({"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
                                 status=201)

    def _audience(self, reply_to: str | None) -> str | None:
        """Whom a tweet replying to `reply_to` is addressed to: that tweet's author (ours: "self")."""
        if reply_to is None:
            return None
        if reply_to in self.tweets:
            return str(self.tweets[reply_to].get("author_id"))
        return "self" if any(p["id"] == reply_to for p in self.posted) else f"tweet:{reply_to}"

    async def get_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._unauthorized()
        with self._lock:
            rules = list(self.rules)
        body: dict[str, Any] = {"meta": {"sent": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                                         "result_count": len(rules)}}
        if rules:
            body["data"] = rules
        return web.json_response(body)

    async def post_rules(self, request: web.Request) -> web.Response:
        if not self._bearer_ok(request):
            return self._unauthorized()
        body = await request.json()
        created = []
        with self._lock:
            for rule in body.get("add") or []:
                tag = {"tag": rule["tag"]} if rule.get("tag") else {}
                new = {"id": str(next(self._rule_ids)), "value": rule["value"], **tag}
                self.rules.append(new)
                created.append(new)
            drop = set((body.get("delete") or {}).get("ids") or [])
            self.rules = [r for r in self.rules if r["id"] not in drop]
        summary = {"created": len(created), "not_created": 0, "valid": len(created), "invalid": 0}
        return web.json_response({"data": created, "meta": {"sent": "", "summary": summary}}, status=201)

    async def stream(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self._unauthorized()
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json",
                                                           **request[_LIMIT_HEADERS]})
        await response.prepare(request)
        queue = self._stream_queue
        assert queue is not None
        try:
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), self.keepalive)
                except asyncio.TimeoutError:
                    data = b"\r\n"  # keep-alive, as Twitter sends every 20 s
                await response.write(data)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # --- serving -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._record])
        for prefix in ("", PREFIX):  # also behind a path, as an API gateway or proxy would serve it
            app.router.add_get(prefix + "/2/users/{id}/mentions", self.get_mentions)
            app.router.add_post(prefix + "/2/tweets", self.post_tweet)
            app.router.add_get(prefix + "/2/tweets/search/stream/rules", self.get_rules)
            app.router.add_post(prefix + "/2/tweets/search/stream/rules", self.post_rules)
            app.router.add_get(prefix + "/2/tweets/search/stream", self.stream)
        return app

    async def on_loop(self) -> None:
        """The queue the stream endpoint reads, on the serving loop."""
        self._stream_queue = asyncio.Queue()


_TITLES = {400: "Invalid Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found Error",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def weighted_length(text: str) -> int:
    """Twitter's count, as far as these tests need it: a URL counts 23, any other code point 1."""
    return len(_URL.sub("x" * 23, text))


def _kind(path: str) -> str:
    if path.endswith("/mentions"):
        return "mentions"
    if path.endswith("/stream/rules"):
        return "rules"
    return "stream" if path.endswith("/stream") else "tweets"


def _fields(obj: dict[str, Any], kind: str, q: Any) -> dict[str, Any]:
    """`obj` with only the default fields and those its *.fields parameter asks for."""
    wanted = _DEFAULT_FIELDS[kind] | set(filter(None, q.get(_FIELDS_PARAM[kind], "").split(",")))
    return {k: v for k, v in obj.items() if k in wanted}


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"errors": [{"message": detail}], "title": _TITLES.get(status, "Error"),
                              "detail": detail, "type": "https://api.twitter.com/2/problems/invalid-request"},
                             status=status)
