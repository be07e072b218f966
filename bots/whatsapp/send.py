"""Send replies through the WhatsApp Cloud API (POST /<version>/<phone number id>/messages), built from the channel's
config section alone; fetch the photos citizens sent (GET /<version>/<media id>) for the dashboard."""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from bots.base import coerce
from bots.errors import PermanentError, RateLimited, SendError, TransientError
from bots.whatsapp.config import WhatsAppSettings
from ingest.message import Address
from store.media import sniff

log = logging.getLogger(__name__)

# The Cloud API's limits (characters, items, bytes).
TEXT_LIMIT = 4096  # a text message's body (and a list message's)
CAPTION_LIMIT = 1024  # an image's caption
BUTTONS_BODY_LIMIT = 1024  # the body of a reply-buttons or location-request message
MAX_BUTTONS, BUTTON_TITLE_LIMIT, BUTTON_ID_LIMIT = 3, 20, 256  # reply buttons
MAX_ROWS, ROW_TITLE_LIMIT, ROW_DESCRIPTION_LIMIT, ROW_ID_LIMIT = 10, 24, 72, 200  # a list message's rows
IMAGE_TYPES = ("image/jpeg", "image/png")  # what an image message may carry
IMAGE_BYTES = 5 * 1024 * 1024  # the largest image the Cloud API takes
# The list message's button, which opens the list, by the reply's language.
LIST_BUTTON = {"id": "Pilih", "en": "Choose"}
# Above a list's ten rows (never asked for today): the items numbered in the text, which the router reads back.
MENU_HINT = {"id": "Balas dengan angka pilihan Anda:", "en": "Reply with the number of your choice:"}

# Graph API error codes that mean "wait", and how long when the answer says nothing (no Retry-After): the app's
# call limit (4) and the business account's (80007) are counted by the hour; the number's throughput (130429)
# recovers within seconds; one citizen may get about one message every 6 seconds (131056, the pair rate limit).
RATE_LIMIT_WAITS = {4: 60.0, 80007: 60.0, 130429: 5.0, 131056: 6.0}
DEFAULT_WAIT = 30.0  # an HTTP 429 with none of those codes
# Codes that mean a server trouble rather than a refusal: the same request may pass later.
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
TEMPLATE_CODES = (132000, 133000)  # 132000-132999: the template is unknown, paused, or its parameters are wrong
REENGAGEMENT = 131047  # more than 24 hours since the citizen last wrote: only a template may go now
AUTH_CODES = frozenset({0, 10, 190, *range(200, 300)})


class Refused(PermanentError):
    """The Cloud API refused a request for good; `code` is its Graph API error code (None when it gave none)."""

    def __init__(self, message: str, status: int, code: int | None) -> None:
        super().__init__(message)
        self.status, self.code = status, code

    @property
    def about_content(self) -> bool:
        """Whether the refusal is about what was sent (a photo, a parameter), not about sending at all (the token,
        the 24-hour window): then the same words without the photo may pass."""
        return self.code != REENGAGEMENT and self.code not in AUTH_CODES and self.status not in (401, 403)


class WhatsAppSender:
    """Sends replies from the business number an address names (Address.bot); maps Graph API errors to the
    channel-neutral ones in bots.errors."""

    max_text = TEXT_LIMIT  # the outbox cuts longer replies

    def __init__(self, config: Mapping[str, Any] | WhatsAppSettings) -> None:
        self.settings = coerce(WhatsAppSettings, config)
        self.base = f"{self.settings.graph_base_url.rstrip('/')}/{self.settings.api_version}"
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Send `text` to the citizen in `address` from the number that received them, with reply buttons (up to
        three short ones; a list for more or longer), a share-location button, or a photo from `extras`; → the
        message id (wamid) a reply or button press will name. A row without text sends nothing and returns ""
        (WhatsApp can neither answer a press with a notice nor remove buttons: toast and clear_buttons are moot)."""
        extras = extras or {}
        if not text.strip():
            return ""
        number = address.bot
        if not number:
            raise PermanentError("whatsapp: the address names no business phone number id (Address.bot) to send from")
        if extras.get("notice"):
            return await self._post(number, address.chat_id, self._template(str(extras["notice"])))
        language = "en" if extras.get("language") == "en" else "id"
        interactive, text = _interactive(text, extras, language)
        image = await self._image(number, extras["photo"]) if extras.get("photo") else None
        if image is not None:
            try:
                if interactive is not None and interactive["type"] == "button":
                    # Reply buttons may carry the photo as their header: one message, as Telegram's photo with buttons.
                    return await self._post(number, address.chat_id, {"type": "interactive", "interactive": {
                        **interactive, "header": {"type": "image", "image": image}}})
                if interactive is None and len(text) <= CAPTION_LIMIT:
                    return await self._post(number, address.chat_id,
                                            {"type": "image", "image": {**image, "caption": text}})
                # A caption this long, or a list or location request (no image header): the photo goes first.
                await self._post(number, address.chat_id, {"type": "image", "image": image})
            except Refused as exc:
                if not exc.about_content:
                    raise
                # WhatsApp refuses some photos (a link it cannot fetch, a type it does not take): the words matter
                # more than the picture, so they go alone rather than not at all.
                log.warning("whatsapp: photo refused (%s); sending the text without it", exc)
        if interactive is not None:
            return await self._post(number, address.chat_id, {"type": "interactive", "interactive": interactive})
        return await self._post(number, address.chat_id, {"type": "text", "text": {"preview_url": False, "body": text}})

    @property
    def notifies_after_window(self) -> bool:
        """Whether a template is configured for news due after the 24-hour window (router/window.py)."""
        return self.settings.window_template is not None

    def _template(self, ticket: str) -> dict[str, Any]:
        """The approved template that tells the citizen there is news on `ticket`."""
        if self.settings.window_template is None:
            raise PermanentError("whatsapp: no whatsapp.window_template configured: nothing may be sent after the "
                                 "24-hour window")
        return {"type": "template", "template": {
            "name": self.settings.window_template, "language": {"code": self.settings.window_template_language},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": ticket}]}]}}

    async def download(self, file_id: str, max_bytes: int) -> bytes:
        """The bytes of a photo a citizen sent (its media id), for the dashboard: the media's URL first, then
        the file itself, both with the access token."""
        found = await self._call("GET", f"{self.base}/{file_id}")
        url = found.get("url") if isinstance(found, dict) else None
        if not isinstance(url, str) or not url:
            raise PermanentError(f"whatsapp: media {file_id} has no URL")
        size = _number(found.get("file_size"))
        if size is not None and size > max_bytes:
            raise PermanentError(f"whatsapp: media is {size:.0f} bytes, over {max_bytes}")
        data = bytearray()
        try:
            async with self._client().get(url, headers=self._headers()) as response:
                if response.status >= 300:
                    raise _error(response.status, await response.read(), response.headers)
                async for chunk in response.content.iter_chunked(64 * 1024):
                    data += chunk
                    if len(data) > max_bytes:
                        raise PermanentError(f"whatsapp: media is over {max_bytes} bytes")
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientError(f"whatsapp: {type(exc).__name__}: {exc}") from exc
        return bytes(data)

    async def close(self) -> None:
        """Close the HTTP session (a sender lives as long as its worker: only tests need this)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def _post(self, number: str, to: str, content: dict[str, Any]) -> str:
        """POST one message; → its wamid ("" when the Cloud API took it but its answer could not be read)."""
        body = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, **content}
        answer = await self._call("POST", f"{self.base}/{number}/messages", json=body)
        try:
            return str(answer["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            # A 2xx: the message is on its way. Sending it again would send it twice.
            log.warning("whatsapp: message to %s… accepted, but its answer had no message id", to[:5])
            return ""

    async def _image(self, number: str, photo: Any) -> dict[str, str] | None:
        """The `image` object for a photo: a public link as it is; bytes kept here, or a photo a citizen sent this
        number (its media id), uploaded to the number first. None when the photo cannot go (the words still do)."""
        if isinstance(photo, str) and photo.startswith(("https://", "http://")):
            return {"link": photo}
        try:
            data = photo if isinstance(photo, bytes) else await self.download(str(photo), IMAGE_BYTES)
            mime = sniff(data)
            if mime not in IMAGE_TYPES or len(data) > IMAGE_BYTES:
                log.warning("whatsapp: a %s photo of %d bytes cannot be sent (JPEG or PNG up to %d bytes); "
                            "sending the text without it", mime or "non-image", len(data), IMAGE_BYTES)
                return None
            form = aiohttp.FormData()
            form.add_field("messaging_product", "whatsapp")
            form.add_field("type", mime)
            form.add_field("file", data, filename="photo." + mime.split("/")[1], content_type=mime)
            uploaded = await self._call("POST", f"{self.base}/{number}/media", data=form)
            return {"id": str(uploaded["id"])}
        except (PermanentError, KeyError, TypeError) as exc:
            # The words matter more than the picture: they go alone rather than not at all.
            log.warning("whatsapp: photo not sent (%s); sending the text without it", exc)
            return None

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        """One Graph API request; → its JSON. Errors as bots.errors (what the outbox retries, waits for, gives up)."""
        try:
            async with self._client().request(method, url, headers=self._headers(), **kwargs) as response:
                body = await response.read()
                if response.status >= 300:
                    raise _error(response.status, body, response.headers)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise TransientError(f"whatsapp: {type(exc).__name__}: {exc}") from exc
        try:
            return json.loads(body)
        except ValueError:
            return None

    def _headers(self) -> dict[str, str]:
        token = self.settings.access_token
        if not token:
            raise PermanentError(f"whatsapp: no access token (set {self.settings.access_token_env})")
        return {"Authorization": f"Bearer {token}"}

    def _client(self) -> aiohttp.ClientSession:
        """The HTTP session of the running event loop (a sender is used on one loop; a new loop gets its own)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.settings.connection_pool),
                timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
            self._loop = loop
        return self._session


def _error(status: int, body: bytes, headers: Mapping[str, str]) -> SendError:
    """A Graph API error answer as the error the outbox acts on."""
    try:
        found = json.loads(body).get("error")
    except (ValueError, AttributeError):
        found = None
    error = found if isinstance(found, dict) else {}
    code = error.get("code")
    code = int(code) if isinstance(code, (int, str)) and str(code).isdigit() else None
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    said = "; ".join(str(part) for part in (error.get("message"), details) if part) or body[:200].decode(errors="replace")
    what = f"HTTP {status}" + (f", error {code}" if code is not None else "") + f": {said}"
    if code == REENGAGEMENT:
        return Refused("whatsapp: outside the 24-hour customer service window: the citizen last wrote more than 24 "
                       "hours ago, and WhatsApp then delivers only approved template messages; the reply is not sent "
                       f"({what})", status, code)
    if code is not None and TEMPLATE_CODES[0] <= code < TEMPLATE_CODES[1]:
        return Refused(f"whatsapp: the approved template was refused; check whatsapp.window_template and its "
                       f"language against WhatsApp Manager ({what})", status, code)
    if status == 429 or code in RATE_LIMIT_WAITS:
        wait = _number(headers.get("Retry-After"))
        return RateLimited(wait if wait is not None and wait >= 0 else RATE_LIMIT_WAITS.get(code or 0, DEFAULT_WAIT),
                           f"by WhatsApp ({what})")
    if status >= 500 or code in TRANSIENT_CODES:
        return TransientError(f"whatsapp: {what}")
    if status in (401, 403) or code in AUTH_CODES:
        return Refused(f"whatsapp: the access token was refused ({what})", status, code)
    return Refused(f"whatsapp: {what}", status, code)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _interactive(text: str, extras: dict[str, Any], language: str) -> tuple[dict[str, Any] | None, str]:
    """(the interactive object for the reply's buttons or share-location request, or None; the text to send).
    Up to three buttons with short labels are reply buttons; up to ten are a list; more are numbered in the text."""
    buttons = [b for row in extras.get("buttons") or [] for b in row]
    values = [str(b["value"]) for b in buttons]
    labels = [str(b["label"]) for b in buttons]
    if buttons and len(set(values)) == len(values):
        if (len(buttons) <= MAX_BUTTONS and len(text) <= BUTTONS_BODY_LIMIT
                and all(len(label) <= BUTTON_TITLE_LIMIT for label in labels)
                and all(len(value) <= BUTTON_ID_LIMIT for value in values)):
            return {"type": "button", "body": {"text": text}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": value, "title": label}} for value, label in zip(values, labels)]}}, text
        if len(buttons) <= MAX_ROWS and all(len(value) <= ROW_ID_LIMIT for value in values):
            rows = [{"id": value, "title": _cut(label, ROW_TITLE_LIMIT)} for value, label in zip(values, labels)]
            for row, label in zip(rows, labels):
                if row["title"] != label:  # the whole label, under its shortened title
                    row["description"] = _cut(label, ROW_DESCRIPTION_LIMIT)
            return {"type": "list", "body": {"text": text},
                    "action": {"button": LIST_BUTTON[language], "sections": [{"rows": rows}]}}, text
    if buttons:
        menu = "\n".join(f"{i}. {label}" for i, label in enumerate(labels, 1))
        return None, _cut(f"{text}\n\n{MENU_HINT[language]}\n{menu}", TEXT_LIMIT)
    if extras.get("ask_location") and len(text) <= BUTTONS_BODY_LIMIT:
        # WhatsApp draws the button ("Send location") itself: the label the router gives is not shown.
        return {"type": "location_request_message", "body": {"text": text}, "action": {"name": "send_location"}}, text
    return None, text


def _cut(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
