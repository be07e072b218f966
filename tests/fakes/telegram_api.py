"""A fake Telegram Bot API server: aiohttp on 127.0.0.1 speaking the real JSON protocol.

Driven by the real python-telegram-bot client in tests and benchmarks. It keeps an update queue
(getUpdates with offset/limit/timeout long polling, confirmation by offset), records every
sendMessage/sendPhoto and every answerCallbackQuery (with its text), keeps the bot's messages so that
editMessageReplyMarkup edits them (recorded in `edits`) or fails as Telegram does, implements getMe,
setWebhook/deleteWebhook/getWebhookInfo and getFile, and can be told to answer the next calls of a method
with an error (e.g. 429 with retry_after).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from tests.fakes.loopback import LoopbackServer

TOKEN = "123456789:TEST-fake-token_for-crophub"


class FakeBotAPI(LoopbackServer):
    """The server's state and handlers; run it in a thread with start()."""

    name = "fake Bot API"

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.bot_id = int(token.split(":")[0])
        self.updates: list[dict[str, Any]] = []
        self.served_at: dict[int, float] = {}  # update_id → when getUpdates first returned it
        self.pushed_at: dict[int, float] = {}  # update_id → when push() queued it
        self.sent: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.answered: list[dict[str, Any]] = []  # answerCallbackQuery calls (their params: "text" is the toast)
        self.edits: list[dict[str, Any]] = []  # editMessageReplyMarkup calls that changed a message
        # The bot's messages as Telegram now holds them, by (chat id, message id): what an edit changes.
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}
        self.uploads: list[bytes] = []  # photos sent as bytes (sendPhoto with a file)
        self.files: dict[str, bytes] = {}  # file id → the bytes getFile's path serves (others: a 4-byte JPEG)
        self.webhook: dict[str, Any] | None = None
        self.errors: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._message_ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._new: asyncio.Event | None = None

    # --- control, from any thread --------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The value for telegram.api_base_url (the token is appended by the client)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_base_url(self) -> str:
        """The value for telegram.file_base_url."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (an update_id is assigned when it has none); returns its update_id."""
        with self._lock:
            if "update_id" not in update:
                update = {"update_id": next(self._update_ids), **update}
            self.updates.append(update)
            if isinstance(update.get("update_id"), int):
                self.pushed_at[update["update_id"]] = time.perf_counter()
        if self._loop and self._new:
            self._loop.call_soon_threadsafe(self._new.set)
        return update.get("update_id", -1) if isinstance(update, dict) else -1

    def fail_next(self, method: str, status: int, body: dict[str, Any], times: int = 1) -> None:
        """Answer the next `times` calls of `method` with this status and JSON body."""
        with self._lock:
            self.errors.setdefault(method, []).extend([(status, body)] * times)

    def reset(self) -> None:
        """Forget every update, message, answer, edit, queued error and the webhook (a test's clean start)."""
        with self._lock:
            for kept in (self.updates, self.sent, self.calls, self.answered, self.uploads, self.edits,
                         self.messages, self.errors, self.served_at, self.pushed_at, self.files):
                kept.clear()
            self.webhook = None

    def toasts(self) -> list[str | None]:
        """The text of each callback answer, in order (None: answered without a notice)."""
        with self._lock:
            return [a.get("text") for a in self.answered]

    def pending(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by an offset."""
        with self._lock:
            return list(self.updates)

    # --- protocol ------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post() if request.method == "POST" else request.query
        params: dict[str, Any] = {}
        for key, value in {**request.query, **form}.items():
            if isinstance(value, str):
                try:
                    value = json.loads(value)  # PTB sends JSON-encoded values as form fields
                except ValueError:
                    pass
            params[key] = value
        return params

    def _user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "CROP Jakarta", "username": "CropHubTestBot"}

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        self.calls.append(method)
        params = await self._params(request)
        with self._lock:
            queued = self.errors.get(method)
            error = queued.pop(0) if queued else None
        if error:
            return web.json_response(error[1], status=error[0])
        handler = getattr(self, f"m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found: method not found"},
                                     status=404)
        try:
            result = await handler(params)
        except _ApiError as exc:
            return web.json_response({"ok": False, "error_code": exc.code, "description": exc.description},
                                     status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def m_getMe(self, params: dict[str, Any]) -> Any:
        return {**self._user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset")
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while True:
            with self._lock:
                if offset is not None:
                    # An offset confirms every update below it: they are never served again.
                    self.updates = [u for u in self.updates if not _uid_below(u, int(offset))]
                batch = self.updates[:limit]
                now = time.perf_counter()
                for u in batch:
                    if isinstance(u, dict) and isinstance(u.get("update_id"), int):
                        self.served_at.setdefault(u["update_id"], now)
            if batch or time.monotonic() >= deadline:
                return batch
            assert self._new is not None
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass

    async def m_setWebhook(self, params: dict[str, Any]) -> Any:
        if not str(params.get("url", "")).startswith("https://") and params.get("url"):
            raise _ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self.webhook = {"url": params.get("url"), "secret_token": params.get("secret_token")} if params.get("url") else None
        return True

    async def m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            with self._lock:
                self.updates.clear()
        return True

    async def m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": (self.webhook or {}).get("url") or "", "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}

    def _message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        message = {"message_id": next(self._message_ids), "from": self._user(), "date": int(time.time()),
                   "chat": {"id": chat_id, "type": "private"}, **content}
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            message["reply_markup"] = markup  # a Message names only its inline keyboard, as Telegram's do
        reply = params.get("reply_parameters")
        record = {"chat_id": chat_id, "reply_to": (reply or {}).get("message_id"), "at": time.perf_counter(),
                  "message": message, "reply_markup": markup, **content}
        with self._lock:
            self.sent.append(record)
            # Kept apart from the record: an edit changes what Telegram holds, not what was sent.
            self.messages[(str(chat_id), message["message_id"])] = {**message, "_markup": markup}
        return message

    async def m_sendMessage(self, params: dict[str, Any]) -> Any:
        if not params.get("text"):
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._message(params, text=str(params["text"]))

    async def m_sendPhoto(self, params: dict[str, Any]) -> Any:
        photo = params.get("photo")
        file_id = photo if isinstance(photo, str) else "uploaded-photo"
        if isinstance(photo, FileField):  # an upload: its bytes are kept for the test to compare
            with self._lock:
                self.uploads.append(photo.file.read())
        content: dict[str, Any] = {"photo": [{"file_id": file_id, "file_unique_id": file_id[-8:], "width": 800,
                                              "height": 600, "file_size": 40000}]}
        if params.get("caption"):
            content["caption"] = str(params["caption"])
        return self._message(params, **content)

    async def m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        if not params.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query id is empty")
        if len(str(params.get("text") or "")) > TOAST_LIMIT:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._lock:
            self.answered.append(dict(params))
        return True

    async def m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")  # the fake sends no inline-mode messages
        if chat_id in (None, ""):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if message_id in (None, ""):
            raise _ApiError(400, "Bad Request: message identifier is not specified")
        if not str(message_id).isdigit():
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        markup = params.get("reply_markup")
        # No markup, or an empty inline keyboard, removes the keyboard.
        wanted = markup if isinstance(markup, dict) and markup.get("inline_keyboard") else None
        with self._lock:
            stored = self.messages.get((str(chat_id), int(message_id)))
            if stored is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            current = stored["_markup"]
            if isinstance(current, dict) and "inline_keyboard" not in current:
                # A reply keyboard (e.g. share-location) is tied to the message: Telegram refuses edits.
                raise _ApiError(400, "Bad Request: message can't be edited")
            if (current or None) == wanted:
                raise _ApiError(400, "Bad Request: message is not modified: specified new message content and "
                                     "reply markup are exactly the same as a current content and reply markup "
                                     "of the message")
            stored["_markup"] = wanted
            stored.pop("reply_markup", None)
            if wanted:
                stored["reply_markup"] = wanted
            stored["edit_date"] = int(time.time())
            self.edits.append({"chat_id": chat_id, "message_id": int(message_id), "reply_markup": wanted,
                               "at": time.perf_counter()})
            return {k: v for k, v in stored.items() if k != "_markup"}

    async def m_getFile(self, params: dict[str, Any]) -> Any:
        file_id = params.get("file_id")
        if not file_id:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": str(file_id)[-8:], "file_size": len(self.files.get(file_id, b"1234")),
                "file_path": f"photos/{file_id}.jpg"}

    async def file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].removeprefix("photos/").removesuffix(".jpg")
        return web.Response(body=self.files.get(file_id, b"\xff\xd8\xff\xd9"), content_type="image/jpeg")

    # --- serving -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self.file)
        return app

    async def on_loop(self) -> None:
        """The event that wakes long polls, on the serving loop."""
        self._new = asyncio.Event()


TOAST_LIMIT = 200  # characters of a callback answer's text


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def _uid_below(update: Any, offset: int) -> bool:
    return isinstance(update, dict) and isinstance(update.get("update_id"), int) and update["update_id"] < offset
