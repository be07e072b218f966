"""A fake SMS gateway on 127.0.0.1 speaking both presets' real send protocols, for bots/sms's sender.

- Twilio: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form fields To / From / Body, HTTP basic auth
  (account SID : auth token); 201 with a Message resource ({"sid": "SM…", "status": "queued", …}); errors as
  Twilio's JSON ({"code": 20003, "message": "Authenticate", "more_info": …, "status": 401}).
- Vonage: POST /sms/json, JSON (or form) api_key / api_secret / from / to / text / type; 200 with
  {"message-count": "n", "messages": [{"to", "message-id", "status": "0", …}, …]} (one per part), a non-zero
  status with "error-text" when refused (4: Bad Credentials), as the SMS API answers.
It records every SMS it accepted and can answer the next requests with an error (status, body, headers).
"""
from __future__ import annotations

import base64
import itertools
import threading
from typing import Any

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "fake-twilio-auth-token"
API_KEY, API_SECRET = "abcd1234", "fake-vonage-secret"


class FakeSmsGateway(LoopbackServer):
    """The gateway's state and handlers; run it in a thread with start()."""

    name = "fake SMS gateway"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []  # accepted SMS: preset, to, from, text, type
        self.requests = 0
        self.errors: list[tuple[int, Any, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    @property
    def twilio_url(self) -> str:
        """The value for sms.send_url with the twilio preset ({username} is the account SID)."""
        return f"http://127.0.0.1:{self.port}/2010-04-01/Accounts/{{username}}/Messages.json"

    @property
    def vonage_url(self) -> str:
        """The value for sms.send_url with the vonage preset."""
        return f"http://127.0.0.1:{self.port}/sms/json"

    def fail_next(self, status: int, body: Any, headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next `times` requests with this status, JSON body (or text) and headers."""
        with self._lock:
            self.errors.extend([(status, body, headers or {})] * times)

    def reset(self) -> None:
        """Forget what was sent and any queued error."""
        with self._lock:
            self.sent.clear()
            self.errors.clear()
            self.requests = 0

    def _queued(self) -> web.Response | None:
        with self._lock:
            self.requests += 1
            if not self.errors:
                return None
            status, body, headers = self.errors.pop(0)
        if isinstance(body, str):
            return web.Response(status=status, text=body, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    async def twilio(self, request: web.Request) -> web.Response:
        queued = self._queued()
        if queued:
            return queued
        sid = request.match_info["sid"]
        if sid != ACCOUNT_SID or request.headers.get("Authorization") != _basic(ACCOUNT_SID, AUTH_TOKEN):
            return _twilio_error(401, 20003, "Authenticate")
        form = await request.post()
        to, sender, body = (str(form.get(k, "")) for k in ("To", "From", "Body"))
        if not to:
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not body:
            return _twilio_error(400, 21602, "Message body is required.")
        message_sid = f"SM{next(self._ids):032x}"
        with self._lock:
            self.sent.append({"preset": "twilio", "to": to, "from": sender, "text": body})
        return web.json_response({
            "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": body, "date_created": None,
            "date_sent": None, "date_updated": None, "direction": "outbound-api", "error_code": None,
            "error_message": None, "from": sender, "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": message_sid, "status": "queued",
            "to": to, "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message_sid}/Media.json"},
        }, status=201)

    async def vonage(self, request: web.Request) -> web.Response:
        queued = self._queued()
        if queued:
            return queued
        params = dict(await request.json()) if request.content_type == "application/json" else dict(await request.post())
        if params.get("api_key") != API_KEY or params.get("api_secret") != API_SECRET:
            return web.json_response({"message-count": "1", "messages": [{"status": "4", "error-text": "Bad Credentials"}]})
        text, to = str(params.get("text") or ""), str(params.get("to") or "")
        if not text or not to or not params.get("from"):
            return web.json_response({"message-count": "1", "messages": [
                {"status": "2", "error-text": "Missing to param"}]})
        with self._lock:
            self.sent.append({"preset": "vonage", "to": to, "from": params.get("from"), "text": text,
                              "type": params.get("type", "text")})
        room = 67 if params.get("type") == "unicode" else 153  # one entry per part, as the SMS API lists them
        single = 70 if params.get("type") == "unicode" else 160
        count = 1 if len(text) <= single else -(-len(text) // room)
        return web.json_response({"message-count": str(count), "messages": [
            {"to": to, "message-id": f"0C{next(self._ids):014X}", "status": "0", "remaining-balance": "15.53590000",
             "message-price": "0.02160000", "network": "51010"} for _ in range(count)]})

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.twilio)
        app.router.add_post("/sms/json", self.vonage)
        return app


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    """Twilio's error body."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _twilio_error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(twilio_error(status, code, message), status=status)
