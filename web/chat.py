"""The web chat: anyone can report as a citizen from /chat, through the same intake, dialogue and outbox as
Telegram. The browser is known only by a random cookie; its chat id is a hash of it, so the database holds
nothing that lets anyone read that chat.

- GET  /chat                the page (web/static/chat.js)
- POST /chat/messages       JSON {id, text, location, reply_to}, or a form with those fields and a photo
- GET  /chat/messages       the chat so far (?after=N: only our replies after cursor N), for the page to poll:
                            {"messages", "cursor", "cleared": ids of our replies whose buttons are gone,
                            "notices": [{"id", "text"}] short notices (a toast) to show for a moment}
- GET  /chat/photo/{n}      the photo of our reply n (an officer's "after" photo), for this chat only
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.web_request import FileField
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bots.webchat.parse import CHANNEL, Invalid, parse
from ingest.intake import Batch, Intake, Skipped
from ingest.message import Address
from store import media
from store.models import InboundMessage, Outbox
from web import errors
from web.limits import Limiter
from web.media import Photos
from web.params import ROW_ID
from web.public import render

log = logging.getLogger(__name__)

COOKIE = "crophub_chat"
HISTORY = 100  # messages of each side shown when the page opens
POSTS_PER_MINUTE = 20  # per browser, and 5× that per network address: a chat, not a firehose
PHOTOS_PER_HOUR = 10  # per browser, and 3× that per network address: photos are kept, so they are counted apart
# A poll also rereads the replies sent this recently, whatever their id: one whose row committed after a later
# one (two workers at once) is not missed. The page drops what it already shows.
LOOK_BACK = timedelta(seconds=60)
_CURSOR = re.compile(ROW_ID)


def setup(app: web.Application, sessions: sessionmaker[Session], intake: Intake | None, photos: Photos,
          secure_cookies: bool = False, cookie_days: int = 90) -> None:
    """Add the web chat's routes."""
    chat = _Chat(sessions, intake, photos, secure_cookies, cookie_days)
    app.router.add_get("/chat", chat.page)
    app.router.add_get("/chat/messages", chat.history)
    app.router.add_post("/chat/messages", chat.post)
    # An id the database's bigint cannot hold matches no route: 404 without a lookup.
    app.router.add_get(f"/chat/photo/{{outbox_id:{ROW_ID}}}", chat.photo)


def chat_id_of(token: str) -> str:
    """The chat id stored for a browser's cookie token (a hash: the database cannot be used to read the chat)."""
    return hashlib.sha256(f"crophub-web-chat:{token}".encode()).hexdigest()[:32]


class _Chat:
    def __init__(self, sessions: sessionmaker[Session], intake: Intake | None, photos: Photos, secure: bool,
                 cookie_days: int) -> None:
        self.sessions = sessions
        self.intake = intake
        self.photos = photos
        self.secure = secure
        self.max_age = cookie_days * 86400
        self.per_chat = Limiter(POSTS_PER_MINUTE)
        self.per_address = Limiter(POSTS_PER_MINUTE * 5)
        self.photos_per_chat = Limiter(PHOTOS_PER_HOUR, 3600)
        self.photos_per_address = Limiter(PHOTOS_PER_HOUR * 3, 3600)

    async def page(self, request: web.Request) -> web.Response:
        response = render("chat.html", available=self.intake is not None)
        if not _valid(request.cookies.get(COOKIE, "")):
            self._set_cookie(response, secrets.token_urlsafe(32))
        response.headers["Cache-Control"] = "no-store"
        return response

    def _set_cookie(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Lax", secure=self.secure, path="/chat",
                            max_age=self.max_age)

    def _chat(self, request: web.Request) -> str:
        token = request.cookies.get(COOKIE, "")
        if not _valid(token):
            raise _error(401, "no chat: open /chat first (cookies must be allowed)")
        return chat_id_of(token)

    async def post(self, request: web.Request) -> web.Response:
        if self.intake is None:
            raise _error(503, "this server does not accept reports")
        origin = request.headers.get("Origin")
        # The host only: behind a TLS proxy the page is https while this app hears http.
        if origin and urlsplit(origin).netloc != request.host:
            # SameSite keeps the cookie off other sites' posts; this names the refusal plainly.
            raise _error(403, "posts come from the chat page only")
        chat_id = self._chat(request)
        if not (self.per_chat.allow(chat_id) and self.per_address.allow(request.remote or "-")):
            log.warning("web chat: %s… over %d messages a minute; refused", chat_id[:8], POSTS_PER_MINUTE)
            raise _error(429, "too many messages; wait a minute", headers={"Retry-After": "60"})
        payload, upload = await _payload(request)
        if upload is not None and not (self.photos_per_chat.allow(chat_id)
                                       and self.photos_per_address.allow(request.remote or "-")):
            log.warning("web chat: %s… over %d photos an hour; refused", chat_id[:8], PHOTOS_PER_HOUR)
            raise _error(429, "too many photos; wait an hour, or describe it in words", headers={"Retry-After": "3600"})
        received = datetime.now(timezone.utc)
        language = _language(request.headers.get("Accept-Language", ""))
        try:
            photo, data = media.prepare(upload, self.photos.max_bytes) if upload is not None else (None, b"")
            item = parse(payload, chat_id, received, photo, language)
            if photo and not isinstance(item, Skipped):
                item.blobs[photo] = data  # kept in the same transaction as the message
        except (Invalid, media.MediaError) as exc:
            log.warning("web chat: rejected a message from %s…: %s", chat_id[:8], exc)
            raise _error(400, str(exc)) from exc
        batch = Batch()
        batch.add(item)
        await asyncio.to_thread(self.intake.accept, batch)
        return web.json_response({"ok": True, "id": payload["id"]}, status=202)

    async def history(self, request: web.Request) -> web.Response:
        chat_id = self._chat(request)
        after = request.query.get("after", "")
        if after and not _CURSOR.fullmatch(after):
            raise _error(400, "after must be a cursor from an earlier answer")
        body = await asyncio.to_thread(self._history, chat_id, int(after) if after else None)
        response = web.json_response(body)
        response.headers["Cache-Control"] = "no-store"
        return response

    def _history(self, chat_id: str, after: int | None) -> dict[str, Any]:
        chat_key = Address(channel=CHANNEL, chat_id=chat_id).chat_key
        ours = select(Outbox).where(Outbox.chat_key == chat_key, Outbox.status == "sent")
        with self.sessions() as session:
            if after is not None:
                recent = Outbox.sent_at >= datetime.now(timezone.utc) - LOOK_BACK
                replies = list(session.scalars(ours.where((Outbox.id > after) | recent).order_by(Outbox.id)))
                mine: list[InboundMessage] = []
            else:
                replies = list(reversed(session.scalars(ours.order_by(Outbox.id.desc()).limit(HISTORY)).all()))
                mine = list(reversed(session.scalars(
                    select(InboundMessage).where(InboundMessage.channel == CHANNEL,
                                                 InboundMessage.key.startswith(f"{chat_id}:", autoescape=True))
                    .order_by(InboundMessage.id.desc()).limit(HISTORY)).all()))
            # The cursor stops below a reply still being sent, so the next poll picks it up once it is.
            waiting = session.scalar(select(func.min(Outbox.id)).where(Outbox.chat_key == chat_key,
                                                                       Outbox.status == "pending"))
            # A question answered or outdated loses its buttons: drawn without them here, and a page that drew
            # them already removes them when it reads "cleared" (the clearing row is always the later one).
            cleared = {str(c) for o in replies if (c := (o.extras or {}).get("clear_buttons"))}
            # A row without text only carried a clearing or a toast: it is no bubble.
            items = [_mine(m) for m in mine] + [_ours(o, cleared) for o in replies if o.text.strip()]
            # A toast is news only to a page already open: a fresh load does not replay old ones.
            notices = [] if after is None else [{"id": o.id, "text": str((o.extras or {})["toast"])} for o in replies
                                                if (o.extras or {}).get("toast")]
        items.sort(key=lambda m: m["at"])
        cursor = max([o.id for o in replies], default=after or 0)
        if waiting is not None:
            cursor = min(cursor, max(waiting - 1, 0))
        return {"messages": items, "cursor": cursor, "cleared": sorted(cleared), "notices": notices}

    async def photo(self, request: web.Request) -> web.StreamResponse:
        chat_id = self._chat(request)
        ref = await asyncio.to_thread(self._photo_ref, chat_id, int(request.match_info["outbox_id"]))
        return await self.photos.respond(ref)

    def _photo_ref(self, chat_id: str, outbox_id: int) -> str | None:
        with self.sessions() as session:
            row = session.get(Outbox, outbox_id)
            # Only a reply to this very chat: another browser's photos stay theirs.
            if row is None or row.chat_key != Address(channel=CHANNEL, chat_id=chat_id).chat_key:
                return None
            return (row.extras or {}).get("photo")


def _mine(row: InboundMessage) -> dict[str, Any]:
    raw = row.raw or {}
    return {"from": "me", "id": raw.get("id"), "text": raw.get("text") or "", "at": row.received_at.isoformat(),
            "photo": bool(raw.get("photo")), "location": bool(raw.get("location"))}


def _ours(row: Outbox, cleared: set[str]) -> dict[str, Any]:
    extras = row.extras or {}
    # A cleared question loses its share-location button too: the form keeps one for any later need.
    live = row.provider_message_id not in cleared
    return {"from": "hub", "id": row.provider_message_id, "text": row.text,
            "at": (row.sent_at or row.created_at).isoformat(),
            "buttons": [[{"label": b["label"], "value": b["value"]} for b in line]
                        for line in extras.get("buttons", [])] if live else [],
            "ask_location": extras.get("ask_location") if live else None,
            "photo": f"/chat/photo/{row.id}" if extras.get("photo") else None}


async def _payload(request: web.Request) -> tuple[Any, bytes | None]:
    """The message fields, and the photo's bytes when the page sent a form with one."""
    if request.content_type == "application/json":
        try:
            return await errors.json_body(request), None
        except errors.BadRequest as exc:
            raise _error(400, str(exc)) from exc
    if request.content_type != "multipart/form-data":
        raise _error(415, "send JSON, or a multipart form with a photo")
    try:
        form = await errors.form(request)
    except errors.BadRequest as exc:  # truncated, no boundary: the page's JSON error, not a 500
        raise _error(400, str(exc)) from exc
    upload = form.get("photo")
    payload: dict[str, Any] = {k: str(form[k]) for k in ("id", "text", "reply_to") if k in form}
    if "lat" in form and "lon" in form:
        try:
            payload["location"] = {"lat": float(str(form["lat"])), "lon": float(str(form["lon"]))}
        except ValueError as exc:
            raise _error(400, "lat and lon must be numbers") from exc
    return payload, upload.file.read() if isinstance(upload, FileField) else None


def _valid(token: str) -> bool:
    return 32 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def _language(header: str) -> str | None:
    """The browser's first language, when it is one the dialogue speaks."""
    first = header.split(",", 1)[0].split(";", 1)[0].strip().lower()[:2]
    return first if first in ("id", "en") else None


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    """An error the page can show: {"error": reason}, with its HTTP status."""
    return _http(status)(text=json.dumps({"error": reason}), content_type="application/json", headers=headers)


def _http(status: int) -> type[web.HTTPException]:
    return {400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden,
            415: web.HTTPUnsupportedMediaType, 429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable}[status]
