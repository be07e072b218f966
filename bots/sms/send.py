"""Send replies through the SMS gateway's HTTP API, built from the channel's config section alone."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections import OrderedDict
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any

import aiohttp

from bots.base import coerce
from bots.errors import PermanentError, RateLimited, TransientError
from bots.sms import segments
from bots.sms.config import SmsSettings
from bots.sms.parse import masked
from ingest.message import Address

log = logging.getLogger(__name__)

DEFAULT_WAIT = 5.0  # seconds to wait after a 429 (or Vonage's "throttled") that names no Retry-After
_MEMO_SIZE = 1000  # replies sent part by part whose first parts went and whose rest failed, kept for a retry
# Vonage's SMS API answers 200 with a status per message: these mean "later", any other non-zero one "never".
_VONAGE_THROTTLED = {"1"}
_VONAGE_TRANSIENT = {"5"}  # internal error
_NUMBER = re.compile(r"\+?\d{6,}")  # a phone number in a gateway's error text ("The 'To' number +62… is not valid")


class SmsSender:
    """Sends text replies as SMS (split and capped to `max_parts`); maps gateway errors to bots.errors."""

    def __init__(self, config: Mapping[str, Any] | SmsSettings) -> None:
        self.settings = coerce(SmsSettings, config)
        # Parts already sent of a reply sent part by part (concatenate: false), so that a retry after a failed
        # part sends only the rest: (chat key, hash of the text) → the sent parts' ids.
        self._sent: OrderedDict[tuple[str, str], list[str]] = OrderedDict()

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` (buttons come as a numbered menu in it already; photos are not sent by SMS) to the number
        in `address`, from the number it wrote to; return the gateway's id of the (first) SMS."""
        if not text.strip():  # a row that only clears buttons or answers a press: nothing on SMS
            return ""
        settings = self.settings
        ours = address.bot or settings.number
        if not ours:
            raise PermanentError("sms: no number to send from (the message has none; set sms.number)")
        if not (settings.username and settings.password):
            raise PermanentError(f"sms: no gateway credentials (set {settings.username_env} and {settings.password_env})")
        text = segments.plain(text.strip()) if settings.plain_punctuation else text.strip()
        body, menu = _menu_at_end(text, extras or {})
        parts = segments.split(body, settings.max_parts, settings.concatenate, tail=menu)
        bodies = ["".join(parts)] if settings.concatenate else [p.strip() for p in parts]
        memo = (address.chat_key, hashlib.sha256(text.encode()).hexdigest())  # the text as sent: stable per row
        ids = list(self._sent.get(memo, []))
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for piece in bodies[len(ids):]:
                ids.append(await self._post(session, address.chat_id, ours, piece))
                if len(ids) < len(bodies):
                    self._remember(memo, ids)
        self._sent.pop(memo, None)
        log.info("sms: reply sent to %s in %d part(s) (%d request(s))", masked(address.chat_id), len(parts), len(bodies))
        return ids[0]

    def _remember(self, memo: tuple[str, str], ids: list[str]) -> None:
        self._sent[memo] = list(ids)
        self._sent.move_to_end(memo)
        while len(self._sent) > _MEMO_SIZE:
            self._sent.popitem(last=False)

    async def _post(self, session: aiohttp.ClientSession, to: str, sender: str, body: str) -> str:
        """POST one SMS in the preset's shape; → the gateway's message id."""
        settings = self.settings
        request: dict[str, Any]
        if settings.preset == "twilio":
            # HTTP basic auth written out: aiohttp's BasicAuth and auth= are deprecated, their replacement is new.
            credentials = base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
            form = {"To": to, "From": sender, "Body": body}
            if settings.delivery_reports and settings.inbound.public_url:
                form["StatusCallback"] = settings.inbound.public_url  # kept on the outbox row (bots/sms/webhook.py)
            request = {"data": form, "headers": {"Authorization": f"Basic {credentials}"}}
        else:
            payload = {"api_key": settings.username, "api_secret": settings.password, "from": sender, "to": to,
                       "text": body}
            if segments.encoding(body) == "ucs2":
                payload["type"] = "unicode"  # Vonage garbles characters outside GSM-7 without it
            request = {"json": payload}
        try:
            async with session.post(settings.url(), **request) as resp:
                raw = await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientError(f"sms: gateway unreachable: {type(exc).__name__}: {exc}") from exc
        answer = _json(raw)
        if status == 429:
            raise RateLimited(_wait(retry_after), f"by the SMS gateway ({_detail(answer, raw)})")
        if status >= 500:
            raise TransientError(f"sms: gateway error {status}: {_detail(answer, raw)}")
        if status >= 400:
            raise PermanentError(f"sms: gateway refused the SMS ({status}): {_detail(answer, raw)}")
        return self._message_id(answer, raw)

    def _message_id(self, answer: Any, raw: bytes) -> str:
        """The id in a 2xx answer; Vonage's per-message status may still say it was refused."""
        if not isinstance(answer, dict):
            raise TransientError(f"sms: gateway answered without JSON: {raw[:200]!r}")
        if self.settings.preset == "twilio":
            sid = answer.get("sid")
            if not isinstance(sid, str) or not sid:
                raise TransientError("sms: gateway answered without a message sid")
            return sid
        messages = answer.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise TransientError("sms: gateway answered without messages")
        for message in messages:  # one per part of a concatenated SMS
            code = str(message.get("status", ""))
            if code == "0":
                continue
            detail = _NUMBER.sub(lambda m: masked(m.group()), f"status {code}: {message.get('error-text', '')}")
            if code in _VONAGE_THROTTLED:
                raise RateLimited(DEFAULT_WAIT, f"by the SMS gateway ({detail})")
            if code in _VONAGE_TRANSIENT:
                raise TransientError(f"sms: gateway error ({detail})")
            raise PermanentError(f"sms: gateway refused the SMS ({detail})")
        return str(messages[0].get("message-id", ""))


def _menu_at_end(text: str, extras: dict[str, Any]) -> tuple[str, str]:
    """`text` as (body, menu): the numbered menu the outbox appended for the row's buttons (router/replies.py's
    with_menu: a blank line, a hint, "1. label"...) is kept whole when a long reply is cut, since the citizen
    answers with its numbers. (text, "") when the text does not end in one."""
    labels = [b for row in extras.get("buttons") or [] for b in row]
    at = text.rfind("\n\n")
    if not labels or at < 0:
        return text, ""
    numbers = [line.split(". ", 1)[0] for line in text[at + 2:].split("\n")[1:]]
    if numbers != [str(n) for n in range(1, len(labels) + 1)]:
        return text, ""
    return text[:at], text[at:]


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _detail(answer: Any, raw: bytes) -> str:
    """A gateway error as one short line: Twilio's code and message, or the start of the body."""
    if isinstance(answer, dict) and ("code" in answer or "message" in answer):
        line = f"code {answer.get('code')}: {answer.get('message')}"
    else:
        line = raw[:200].decode("utf-8", "replace")
    # The outbox logs and stores this line: the numbers in it are masked like ours.
    return _NUMBER.sub(lambda m: masked(m.group()), line)


def _wait(header: str | None) -> float:
    """Retry-After as seconds: a number, or an HTTP date; DEFAULT_WAIT when missing or unreadable."""
    if not header:
        return DEFAULT_WAIT
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return DEFAULT_WAIT
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
