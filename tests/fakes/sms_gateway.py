"""A fake SMS gateway on 127.0.0.1 speaking both presets' real send protocols, for bots/sms's sender.

- Twilio: POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form fields To / From / Body, HTTP basic auth
  (account SID : auth token); 201 with a Message resource ({"sid": "SM…", "status": "queued", …}); errors as
  Twilio's JSON ({"code": 20003, "message": "Authenticate", "more_info": …, "status": 401}).
- Vonage: POST /sms/json, JSON (or form) api_key / api_secret / from / to / text / type; 200 with
  {"message-count": "n", "messages": [{"to", "message-id", "status": "0", …}, …]} (one per part), a non-zero
  status with "error-text" when refused (4: Bad Credentials), as the SMS API answers.
It records every SMS it accepted and can answer the next requests with an error (status, body, headers).

It also writes what the gateway posts back to `crophub web`, as the gateway does: an inbound SMS signed with
X-Twilio-Signature, a Vonage long SMS in its parts (concat-ref / concat-total / concat-part), and the delivery
reports on the SMS it accepted (Twilio's status callback, Vonage's delivery receipt).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import threading
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.fakes.loopback import LoopbackServer

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "fake-twilio-auth-token"
API_KEY, API_SECRET = "abcd1234", "fake-vonage-secret"
# Where the tests put the secrets: not the default names, so that no test turns the channel on by accident.
SECRET_ENV, USER_ENV, PASSWORD_ENV = "CROPHUB_TEST_SMS_SECRET", "CROPHUB_TEST_SMS_USER", "CROPHUB_TEST_SMS_PASSWORD"
SECRET = "sms-webhook-s3cret"  # a shared secret a proxy in front would add (sms.inbound.auth: secret)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def section(preset: str, gateway: FakeSmsGateway | None = None, **extra: Any) -> dict[str, Any]:
    """An sms config section for `preset`, its secrets in the test's variables, sending to the fake; `extra` keys
    are added (a dict merged into the section's dict of the same name)."""
    data: dict[str, Any] = {"preset": preset, "username_env": USER_ENV, "password_env": PASSWORD_ENV,
                            "inbound": {"secret_env": SECRET_ENV}}
    if gateway is not None:
        data["send_url"] = gateway.twilio_url if preset == "twilio" else gateway.vonage_url
    for key, value in extra.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and isinstance(data.get(key), dict) else value
    return data


class FakeSmsGateway(LoopbackServer):
    """The gateway's state and handlers; run it in a thread with start()."""

    name = "fake SMS gateway"

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []  # accepted SMS: preset, to, from, text, type (, status_callback)
        self.ids: list[str] = []  # the id each accepted SMS was given, in the order of `sent`
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
            self.ids.clear()
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
        accepted = {"preset": "twilio", "to": to, "from": sender, "text": body}
        if form.get("StatusCallback"):
            accepted["status_callback"] = str(form["StatusCallback"])
        with self._lock:
            self.sent.append(accepted)
            self.ids.append(message_sid)
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
        room = 67 if params.get("type") == "unicode" else 153  # one entry per part, as the SMS API lists them
        single = 70 if params.get("type") == "unicode" else 160
        count = 1 if len(text) <= single else -(-len(text) // room)
        ids = [f"0C{next(self._ids):014X}" for _ in range(count)]
        with self._lock:
            self.sent.append({"preset": "vonage", "to": to, "from": params.get("from"), "text": text,
                              "type": params.get("type", "text")})
            self.ids.append(ids[0])
        return web.json_response({"message-count": str(count), "messages": [
            {"to": to, "message-id": i, "status": "0", "remaining-balance": "15.53590000",
             "message-price": "0.02160000", "network": "51010"} for i in ids]})

    def status_callback(self, sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
        """The form Twilio posts to a reply's StatusCallback URL when the SMS it accepted as `sid` changes status
        (queued, sent, delivered, undelivered, failed); ErrorCode with undelivered and failed."""
        sent = self.sent[self.ids.index(sid)]
        form = {"SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "To": str(sent["to"]), "MessageSid": sid,
                "AccountSid": ACCOUNT_SID, "From": str(sent["from"]), "ApiVersion": "2010-04-01"}
        if error_code:
            form["ErrorCode"] = error_code
        return form

    def delivery_receipt(self, message_id: str, status: str, err_code: str = "0") -> dict[str, str]:
        """The delivery receipt Vonage posts (JSON) about the SMS it accepted as `message_id`: status delivered,
        expired, failed, rejected, accepted, buffered or unknown, and its err-code."""
        sent = self.sent[self.ids.index(message_id)]
        return {"msisdn": str(sent["to"]), "to": str(sent["from"]), "network-code": "51010", "messageId": message_id,
                "price": "0.02160000", "status": status, "scts": "2502030115", "err-code": err_code,
                "api-key": API_KEY, "message-timestamp": "2025-02-03 01:15:50"}

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


def twilio_signature(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """X-Twilio-Signature as Twilio computes it: base64 of the HMAC-SHA1, keyed with the account's auth token, of the
    URL it posts to followed by each POST parameter's name and value, sorted by name."""
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def signed_by_twilio(url: str, form: dict[str, str], auth_token: str = AUTH_TOKEN) -> tuple[str, dict[str, str]]:
    """The body and headers of Twilio's POST of `form` to `url`."""
    return urlencode(form), {**FORM, "X-Twilio-Signature": twilio_signature(url, form, auth_token)}


def vonage_parts(text: str, ref: str, size: int = 153, first_id: int = 0x12AB3500) -> list[dict[str, str]]:
    """A long SMS as Vonage posts it: one inbound message per part of `size` characters, each with its own
    messageId and the same concat-ref (the fields of tests/fixtures/sms/vonage_concat_part.json)."""
    pieces = [text[i:i + size] for i in range(0, len(text), size)]
    return [{"msisdn": "6281311223344", "to": "622150851708", "messageId": f"0A{first_id + n:014X}", "text": piece,
             "type": "text", "keyword": text.split()[0].upper(), "api-key": API_KEY,
             "message-timestamp": "2025-02-03 02:00:11", "concat": "true", "concat-ref": ref,
             "concat-total": str(len(pieces)), "concat-part": str(n + 1)} for n, piece in enumerate(pieces)]
