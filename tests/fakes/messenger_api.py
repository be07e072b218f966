"""A fake of Meta's Graph API Send endpoint for Messenger: aiohttp on 127.0.0.1 speaking the real JSON protocol.

POST /{version}/me/messages (or /{version}/{page-id}/messages) with the Page token as the access_token query
parameter (or an Authorization: Bearer header), a body of `recipient`, `messaging_type` and `message` (text,
quick_replies): checked as Meta checks them (Graph API error JSON with code, error_subcode, type, fbtrace_id), recorded
in `sent`, answered `{"recipient_id", "message_id"}`. A PSID whose 24-hour window is closed (close_window) is refused
with code 10 / subcode 2018278, as Meta does; fail_next answers the next sends with any status and body (429, 5xx).
It also plays Meta's side of the webhook: `notification` wraps messaging events (`message`, `quick_reply`,
`delivery`, `read`, in the shapes of tests/fixtures/messenger) in a Page webhook POST body, and `meta_signature` /
`signed` sign it as Meta does.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.loopback import LoopbackServer

PAGE_TOKEN = "EAAGm0PX4ZCpsBAFakePageToken4Crophub"
PAGE_ID = "104857392011223"
VERSION = "v25.0"
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TEXT_LIMIT, QUICK_REPLIES, TITLE_LIMIT, PAYLOAD_LIMIT = 2000, 13, 20, 1000
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY_TOKEN = "crophub-verify-7f3a"
# Where config() puts the secrets: not the default names, so that no test turns the channel on by accident.
ENV = {"page_token_env": "CROPHUB_TEST_MESSENGER_PAGE_TOKEN", "app_secret_env": "CROPHUB_TEST_MESSENGER_APP_SECRET",
       "verify_token_env": "CROPHUB_TEST_MESSENGER_VERIFY_TOKEN"}


def graph_error(code: int, message: str, subcode: int | None = None, kind: str = "OAuthException") -> dict[str, Any]:
    """A Graph API error body, as Meta's error reference shows it."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


OUTSIDE_WINDOW = graph_error(10, "(#10) This message is sent outside of allowed window. Learn more about the new policy "
                                 "here: https://developers.facebook.com/docs/messenger-platform/policy-overview", 2018278)
RATE_LIMITED = graph_error(613, "(#613) Calls to this api have exceeded the rate limit.")
TOO_MANY_CALLS = graph_error(4, "(#4) Application request limit reached")
UNAVAILABLE = graph_error(551, "(#551) This person isn't available right now.", 1545041)
TEMPORARY = graph_error(2, "An unexpected error has occurred. Please retry your request later.", kind="OAuthException")
BAD_TOKEN = graph_error(190, "Invalid OAuth access token - Cannot parse access token")


def meta_signature(body: bytes, app_secret: str) -> str:
    """X-Hub-Signature-256 as Meta sends it with a webhook POST."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class FakeGraphAPI(LoopbackServer):
    """The Send API's state and handler; run it in a thread with start()."""

    name = "fake Graph API"

    def __init__(self, token: str = PAGE_TOKEN, page_id: str = PAGE_ID, version: str = VERSION) -> None:
        self.token, self.page_id, self.version = token, page_id, version
        self.sent: list[dict[str, Any]] = []  # accepted Send API bodies, each with its "message_id"
        self.calls = 0
        self.closed: set[str] = set()  # PSIDs whose 24-hour window has closed
        self.latency = 0.0  # seconds between taking a message and the answer reaching the caller (the way back)
        self.errors: list[tuple[int, dict[str, Any] | str, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """The value for messenger.graph_base_url."""
        return f"http://127.0.0.1:{self.port}"

    def config(self, monkeypatch: pytest.MonkeyPatch, **more: Any) -> dict[str, Any]:
        """A messenger section pointed at this server, its secrets put in the environment (undone after the test)."""
        for env, value in zip(ENV.values(), (self.token, APP_SECRET, VERIFY_TOKEN)):
            monkeypatch.setenv(env, value)
        return {**ENV, "graph_base_url": self.base_url, "api_version": self.version, **more}

    def close_window(self, psid: str) -> None:
        """From now on, standard replies to `psid` are refused: their last message is over 24 hours old."""
        with self._lock:
            self.closed.add(psid)

    def open_window(self, psid: str) -> None:
        """`psid` has written to the Page again: standard replies are allowed for another 24 hours."""
        with self._lock:
            self.closed.discard(psid)

    def fail_next(self, status: int, body: dict[str, Any] | str, times: int = 1,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` sends with this status, body (JSON, or text) and headers."""
        with self._lock:
            self.errors.extend([(status, body, headers or {})] * times)

    def reset(self) -> None:
        """Forget sends, closed windows and queued errors (a test's clean start)."""
        with self._lock:
            self.sent.clear()
            self.closed.clear()
            self.errors.clear()
            self.calls = 0
            self.latency = 0.0

    async def messages(self, request: web.Request) -> web.Response:
        if request.match_info["version"] != self.version:
            return web.json_response(graph_error(2500, f"Unknown path components: /{request.match_info['version']}",
                                                 kind="OAuthException"), status=400)
        if request.match_info["node"] not in ("me", self.page_id):
            return web.json_response(graph_error(100, "(#100) Unsupported post request.", 33,
                                                 "GraphMethodException"), status=400)
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if (request.query.get("access_token") or bearer) != self.token:
            return web.json_response(BAD_TOKEN, status=400)
        with self._lock:
            self.calls += 1
            queued = self.errors.pop(0) if self.errors else None
        if queued:
            status, body, headers = queued
            if isinstance(body, str):
                return web.Response(status=status, text=body, headers=headers)
            return web.json_response(body, status=status, headers=headers)
        try:
            params = await request.json()
        except ValueError:
            return web.json_response(graph_error(100, "(#100) Param recipient must be non-empty.",
                                                 kind="OAuthException"), status=400)
        problem = _problem(params)
        if problem:
            return web.json_response(graph_error(100, f"(#100) {problem}", kind="OAuthException"), status=400)
        psid = str(params["recipient"]["id"])
        with self._lock:
            if psid in self.closed and params["messaging_type"] == "RESPONSE":
                return web.json_response(OUTSIDE_WINDOW, status=400)
            message_id = mid(next(self._ids), "OUT")
            # "timestamp": when Meta took it, in milliseconds, the clock its echoes and receipts' watermarks use.
            self.sent.append({**params, "message_id": message_id, "timestamp": millis()})
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response({"recipient_id": psid, "message_id": message_id})

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/{version}/{node}/messages", self.messages)
        return app


def mid(number: int, kind: str = "IN") -> str:
    """A message id as long as Meta's ("m_" and 86 base64url characters), numbered."""
    return f"m_{kind}{number:08d}".ljust(88, "x")


# --- Meta's side of the webhook ----------------------------------------------------------------------------------

_mids = itertools.count(1)


def millis(at: datetime | None = None) -> int:
    """A time as Meta writes it in webhook events (timestamp, watermark): milliseconds since the epoch."""
    return int((at.timestamp() if at else time.time()) * 1000)


def notification(*events: dict[str, Any], page_id: str = PAGE_ID) -> dict[str, Any]:
    """A Page webhook POST body carrying `events` (Meta batches a Page's events in one entry)."""
    return {"object": "page", "entry": [{"id": page_id, "time": millis(), "messaging": list(events)}]}


def _event(psid: str, page_id: str, **kind: Any) -> dict[str, Any]:
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "timestamp": millis(), **kind}


def message(psid: str, text: str = "", *, quick_reply: str | None = None,
            attachments: list[dict[str, Any]] | None = None, page_id: str = PAGE_ID) -> dict[str, Any]:
    """A `messages` event from the citizen `psid`: typed text, a pressed quick reply (Meta sends the button's title
    as text and its payload in quick_reply.payload) or attachments."""
    body: dict[str, Any] = {"mid": mid(next(_mids))}
    if text:
        body["text"] = text
    if quick_reply is not None:
        body["quick_reply"] = {"payload": quick_reply}
    if attachments:
        body["attachments"] = attachments
    return _event(psid, page_id, message=body)


def delivery(psid: str, watermark: int, mids: list[str] | None = None, page_id: str = PAGE_ID) -> dict[str, Any]:
    """A `message_deliveries` event: every message to `psid` up to `watermark` reached them; `mids`, when Meta names
    them. It carries no timestamp of its own (as in Meta's reference)."""
    found: dict[str, Any] = {"watermark": watermark}
    if mids is not None:
        found["mids"] = mids
    return {"sender": {"id": psid}, "recipient": {"id": page_id}, "delivery": found}


def read(psid: str, watermark: int, page_id: str = PAGE_ID) -> dict[str, Any]:
    """A `message_reads` event: `psid` has read every message sent to them up to `watermark`."""
    return _event(psid, page_id, read={"watermark": watermark})


def body_of(found: dict[str, Any]) -> bytes:
    """A notification as the bytes Meta posts (the signature covers exactly these)."""
    return json.dumps(found, ensure_ascii=False).encode()


def signed(body: bytes, app_secret: str = APP_SECRET) -> dict[str, str]:
    """The headers Meta sends with a webhook POST: its JSON type and X-Hub-Signature-256."""
    return {"Content-Type": "application/json", "X-Hub-Signature-256": meta_signature(body, app_secret)}


def _problem(params: Any) -> str | None:
    """What Meta would refuse in a Send API body, as its (#100) message says it."""
    if not isinstance(params, dict):
        return "Param recipient must be non-empty."
    recipient = params.get("recipient")
    if not isinstance(recipient, dict) or not recipient.get("id"):
        return "Param recipient must be non-empty."
    if params.get("messaging_type") not in MESSAGING_TYPES:
        return "Param messaging_type must be one of {RESPONSE, UPDATE, MESSAGE_TAG}"
    message = params.get("message")
    if not isinstance(message, dict) or not (message.get("text") or message.get("attachment")):
        return "Must send either message or state"
    if len(str(message.get("text") or "")) > TEXT_LIMIT:
        return "Length of param message[text] must be less than or equal to 2000"
    quick = message.get("quick_replies")
    if quick is not None:
        if not isinstance(quick, list) or not quick or len(quick) > QUICK_REPLIES:
            return "param message[quick_replies] must have at most 13 elements"
        for item in quick:
            if not isinstance(item, dict) or item.get("content_type") != "text":
                return "Param message[quick_replies][0][content_type] must be one of {TEXT, USER_PHONE_NUMBER, USER_EMAIL}"
            if not item.get("title") or len(str(item["title"])) > TITLE_LIMIT:
                return "param title must be non-empty and at most 20 characters"
            if not item.get("payload") or len(str(item["payload"])) > PAYLOAD_LIMIT:
                return "param payload must be non-empty and at most 1000 characters"
    return None
