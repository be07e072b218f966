"""A fake WhatsApp Cloud API (Meta's Graph API) server: aiohttp on 127.0.0.1 speaking the real JSON protocol.

Driven by the real sender (bots/whatsapp/send.py) in tests. It checks the Bearer token, takes
POST /<version>/<phone number id>/messages (text, image, interactive button / list / location request) and checks
them against the Cloud API's limits (three reply buttons of 20 characters, ten list rows of 24, bodies of 1024 or
4096, captions of 1024) as the real API does, answering a refused one with a Graph API error object; takes media
uploads (POST .../<phone number id>/media, multipart) and serves media: GET /<version>/<media id> gives its URL,
and that URL its bytes, with the token. It can be told to fail the next requests with any status, error code and
Retry-After, and records every request. It also builds signed webhook notifications, as Meta posts them.
"""
from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.loopback import LoopbackServer

TOKEN = "EAAG-fake-whatsapp-access-token"
APP_SECRET = "fake-meta-app-secret"
VERIFY_TOKEN = "fake-verify-token"
VERSION = "v25.0"
NUMBER = "106540352242922"  # the business phone number id of the fixtures
# Where env() puts the secrets: not the default names, so that no test turns the channel on by accident.
ENV = {"access_token_env": "CROPHUB_TEST_WHATSAPP_TOKEN", "app_secret_env": "CROPHUB_TEST_WHATSAPP_APP_SECRET",
       "verify_token_env": "CROPHUB_TEST_WHATSAPP_VERIFY_TOKEN"}


def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Put the fake's secrets in the environment (undone after the test); → the *_env keys naming them."""
    for key, value in zip(ENV.values(), (TOKEN, APP_SECRET, VERIFY_TOKEN)):
        monkeypatch.setenv(key, value)
    return dict(ENV)


def sign(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    """The headers Meta sends with a notification: its JSON type and X-Hub-Signature-256."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}


def error_body(code: int, message: str, details: str = "") -> dict[str, Any]:
    """A Graph API error object, as the Cloud API answers a refused request."""
    return {"error": {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details or message},
                      "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUv"}}


@dataclass
class Call:
    """A request the server received."""

    method: str
    path: str
    auth: str
    body: Any = None


class FakeWhatsAppAPI(LoopbackServer):
    """The server's state and handlers; run it in a thread with start()/stop()."""

    name = "fake WhatsApp Cloud API"

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.sent: list[dict[str, Any]] = []  # accepted message bodies, each with the "id" (wamid) it was given
        self.uploads: list[dict[str, Any]] = []  # {"id", "type", "data", "filename", "content_type"}
        self.media: dict[str, tuple[bytes, str]] = {}  # media id → (bytes, MIME type): what GET serves
        self.calls: list[Call] = []
        self.failures: list[tuple[str, int, dict[str, Any] | bytes, dict[str, str]]] = []  # (path part, ...)
        # Approved templates (name → (language code, body parameters)), and the citizens (wa_id) who last wrote more
        # than 24 hours ago: they are sent templates only (anything else: error 131047).
        self.templates: dict[str, tuple[str, int]] = {}
        self.closed: set[str] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- control, from any thread --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for whatsapp.graph_base_url."""
        return f"http://127.0.0.1:{self.port}"

    def config(self, monkeypatch: pytest.MonkeyPatch, **more: Any) -> dict[str, Any]:
        """A whatsapp section pointed at this server, its secrets in the environment."""
        return {**env(monkeypatch), "graph_base_url": self.base_url, "api_version": VERSION, "timeout": 5.0, **more}

    def reset(self) -> None:
        """Forget every message, upload, medium, call and failure (between tests)."""
        with self._lock:
            for kept in (self.sent, self.uploads, self.calls, self.failures):
                kept.clear()
            self.media.clear()
            self.templates.clear()
            self.closed.clear()

    def hold(self, media_id: str, data: bytes, mime: str = "image/jpeg") -> None:
        """Hold a medium a citizen sent, as GET /<media id> serves it."""
        with self._lock:
            self.media[media_id] = (data, mime)

    def fail_next(self, status: int, body: dict[str, Any] | bytes, times: int = 1, on: str = "/messages",
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next `times` requests whose path contains `on` with this status, body and headers."""
        with self._lock:
            self.failures.extend([(on, status, body, headers or {})] * times)

    # --- the webhook side ------------------------------------------------------------------------

    @staticmethod
    def notification(value: dict[str, Any], number: str = NUMBER) -> dict[str, Any]:
        """A webhook notification carrying one change `value` (messages, statuses, contacts) for `number`."""
        return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
            "value": {"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "6281110001112", "phone_number_id": number}, **value},
            "field": "messages"}]}]}

    _wamids = itertools.count(1)

    @classmethod
    def incoming(cls, wa_id: str, name: str, content: dict[str, Any], context: str | None = None,
                 number: str = NUMBER) -> dict[str, Any]:
        """A notification of one message from citizen `wa_id`; `content` holds its type and its object
        ({"type": "text", "text": {"body": ...}}); `context`: the wamid of our message it replies to."""
        msg: dict[str, Any] = {"from": wa_id, "id": f"wamid.IN{next(cls._wamids):012d}", "timestamp": "1764036000",
                               **copy.deepcopy(content)}
        if context:
            msg["context"] = {"from": "6281110001112", "id": context}
        return cls.notification({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": [msg]}, number)

    # --- the server ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_post("/{version}/{number}/messages", self.message)
        app.router.add_post("/{version}/{number}/media", self.upload)
        app.router.add_get("/download/{media_id}", self.download)
        app.router.add_get("/{version}/{media_id}", self.media_info)
        return app

    def _check(self, request: web.Request, body: Any = None) -> web.Response | None:
        """None when the request may go on; else the answer: a canned failure, or 401 for a wrong token."""
        auth = request.headers.get("Authorization", "")
        with self._lock:
            self.calls.append(Call(request.method, request.path, auth, body))
            found = next((f for f in self.failures if f[0] in request.path), None)
            if found is not None:
                self.failures.remove(found)
        if found is not None:
            _, status, answer, headers = found
            if isinstance(answer, bytes):
                return web.Response(status=status, body=answer, headers=headers)
            return web.json_response(answer, status=status, headers=headers)
        if auth != f"Bearer {self.token}":
            return web.json_response(error_body(190, "Error validating access token: Session has expired"), status=401)
        return None

    async def message(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(error_body(100, "Invalid parameter", "the body is not JSON"), status=400)
        refused = self._check(request, body)
        if refused is not None:
            return refused
        problem = _problem(body)
        if problem:
            return web.json_response(error_body(100, "Invalid parameter", problem), status=400)
        error = self._template_refusal(body) if body.get("type") == "template" else None
        if error is None and body.get("type") != "template" and body["to"] in self.closed:
            error = error_body(131047, "Re-engagement message", "Message failed to send because more than 24 hours "
                                 "have passed since the customer last replied to this number.")
        if error is not None:
            return web.json_response(error, status=400)
        wamid = f"wamid.OUT{next(self._ids):012d}"
        with self._lock:
            self.sent.append({**body, "id": wamid, "number": request.match_info["number"]})
        return web.json_response({"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                                  "messages": [{"id": wamid}]})

    def _template_refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The Cloud API's error for a template that is not approved, or whose parameters do not fit (None: fine)."""
        template = body.get("template") or {}
        approved = self.templates.get(str(template.get("name")))
        if approved is None or approved[0] != (template.get("language") or {}).get("code"):
            return error_body(132001, "Template name does not exist in the translation",
                              f"template name ({template.get('name')}) does not exist in the language")
        given = [p for c in template.get("components") or [] if c.get("type") == "body" for p in c.get("parameters") or []]
        if len(given) != approved[1] or any(not str(p.get("text") or "").strip() for p in given):
            return error_body(132000, "Number of parameters does not match the expected number of params",
                              f"body: number of localizable_params ({len(given)}) does not match the expected "
                              f"number of params ({approved[1]})")
        return None

    async def upload(self, request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        async for part in await request.multipart():
            if part.name == "file":
                fields.update(data=await part.read(), filename=part.filename,  # type: ignore[union-attr]
                              content_type=part.headers.get("Content-Type"))
            else:
                fields[str(part.name)] = await part.text()  # type: ignore[union-attr]
        refused = self._check(request, {k: v for k, v in fields.items() if k != "data"})
        if refused is not None:
            return refused
        if fields.get("messaging_product") != "whatsapp" or not fields.get("data") or not fields.get("type"):
            return web.json_response(error_body(100, "Invalid parameter", "messaging_product, file and type are required"),
                                     status=400)
        media_id = str(4_000_000_000 + next(self._ids))
        with self._lock:
            self.uploads.append({"id": media_id, **fields})
            self.media[media_id] = (fields["data"], fields["type"])
        return web.json_response({"id": media_id})

    async def media_info(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        media_id = request.match_info["media_id"]
        with self._lock:
            found = self.media.get(media_id)
        if found is None:
            return web.json_response(error_body(100, "Invalid parameter",
                                                f"Unsupported get request. Object with ID '{media_id}' does not exist"),
                                     status=400)
        data, mime = found
        return web.json_response({"messaging_product": "whatsapp", "url": f"{self.base_url}/download/{media_id}",
                                  "mime_type": mime, "sha256": hashlib.sha256(data).hexdigest(),
                                  "file_size": str(len(data)), "id": media_id})

    async def download(self, request: web.Request) -> web.Response:
        refused = self._check(request)
        if refused is not None:
            return refused
        with self._lock:
            found = self.media.get(request.match_info["media_id"])
        if found is None:
            return web.Response(status=404)
        return web.Response(body=found[0], content_type=found[1])


def _problem(body: dict[str, Any]) -> str | None:
    """Why the Cloud API would refuse this message body (a few of its checks), or None."""
    if body.get("messaging_product") != "whatsapp" or not body.get("to"):
        return "messaging_product and to are required"
    kind = body.get("type")
    if kind == "template":
        template = body.get("template") or {}
        return None if template.get("name") and (template.get("language") or {}).get("code") else \
            "template.name and template.language.code are required"
    if kind == "text":
        text = (body.get("text") or {}).get("body") or ""
        return None if 0 < len(text) <= 4096 else f"text.body must have 1 to 4096 characters, has {len(text)}"
    if kind == "image":
        image = body.get("image") or {}
        if not (image.get("id") or image.get("link")):
            return "image needs an id or a link"
        return None if len(image.get("caption") or "") <= 1024 else "image.caption is longer than 1024 characters"
    if kind != "interactive":
        return f"unsupported message type {kind}"
    interactive = body.get("interactive") or {}
    itype, text = interactive.get("type"), (interactive.get("body") or {}).get("text") or ""
    action = interactive.get("action") or {}
    if itype == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return "reply buttons: 1 to 3 buttons"
        titles = [b["reply"]["title"] for b in buttons]
        if any(not 1 <= len(t) <= 20 for t in titles) or len(set(titles)) != len(titles):
            return "reply buttons: titles of 1 to 20 characters, unique"
        header = interactive.get("header")
        if header is not None and header.get("type") not in ("text", "image", "video", "document"):
            return "header type"
        return None if 0 < len(text) <= 1024 else "body.text must have 1 to 1024 characters"
    if itype == "list":
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        if not 1 <= len(rows) <= 10 or not 1 <= len(action.get("button") or "") <= 20:
            return "list: 1 to 10 rows and a button of 1 to 20 characters"
        if any(len(r["title"]) > 24 or len(r.get("description") or "") > 72 or len(r["id"]) > 200 for r in rows):
            return "list rows: titles of 24, descriptions of 72, ids of 200 characters at most"
        return None if 0 < len(text) <= 4096 else "body.text must have 1 to 4096 characters"
    if itype == "location_request_message":
        if action.get("name") != "send_location":
            return "action.name must be send_location"
        return None if 0 < len(text) <= 1024 else "body.text must have 1 to 1024 characters"
    return f"unsupported interactive type {itype}"


def body_of(notification: dict[str, Any]) -> bytes:
    """A notification as the bytes Meta posts (the signature covers exactly these)."""
    return json.dumps(notification, ensure_ascii=False).encode()

