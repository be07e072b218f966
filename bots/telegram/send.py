"""Send replies through the Telegram Bot API, built from the channel's config section alone."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any, Iterator

from telegram import (Bot, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup,
                      ReplyParameters)
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError

from bots.base import coerce
from bots.errors import PermanentError, RateLimited, TransientError
from bots.telegram.config import TelegramSettings
from bots.telegram.request import AiohttpRequest
from ingest.message import Address

log = logging.getLogger(__name__)


def make_bot(settings: TelegramSettings, token: str | None = None, pool: int | None = None, cls: type[Bot] = Bot,
             request: AiohttpRequest | None = None, **kwargs: Any) -> Bot:
    """A python-telegram-bot `Bot` (or subclass) for the configured, possibly self-hosted, Bot API server; `token`
    when the caller has read it already, else the one in the environment variable settings.token_env names."""
    token = token or settings.token
    if not token:
        raise PermanentError(f"telegram: no bot token (set {settings.token_env})")
    return cls(
        token,
        base_url=settings.api_base_url,
        base_file_url=settings.file_base_url,
        request=request or AiohttpRequest(connection_pool_size=pool or settings.connection_pool),
        **kwargs,
    )


class ReplyBot(Bot):
    """A Bot whose text messages return only their message id: building PTB's Message from the answer would cost
    about a fifth of the call's CPU, and the id is all the outbox keeps."""

    async def send_text(self, chat_id: int | str, text: str, reply_parameters: ReplyParameters | None,
                        reply_markup: InlineKeyboardMarkup | ReplyKeyboardMarkup | None) -> int:
        """sendMessage, as Bot.send_message sends it; → the new message's id."""
        answer = await self._post("sendMessage", {"chat_id": chat_id, "text": text, "reply_parameters": reply_parameters,
                                                  "reply_markup": reply_markup})
        return int(answer["message_id"])


def _seconds(value: Any) -> float:
    # PTB 22 gives retry_after as int or timedelta depending on its settings.
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class TelegramSender:
    """Sends text replies; maps Bot API errors to the channel-neutral ones in bots.errors."""

    max_text = 4096  # Bot API limit for a message's text: the outbox cuts longer replies

    def __init__(self, config: Mapping[str, Any] | TelegramSettings) -> None:
        self.settings = coerce(TelegramSettings, config)
        self.request = AiohttpRequest(connection_pool_size=self.settings.connection_pool)
        self.bot: ReplyBot = make_bot(self.settings, request=self.request, cls=ReplyBot)  # type: ignore[assignment]
        # Requests beyond the pool wait here: in the client's own pool the wait would count against its connect timeout.
        self.slots = asyncio.Semaphore(self.settings.connection_pool)

    async def send(self, address: Address, text: str, extras: dict[str, Any] | None = None) -> str:
        """Answer the button press in `address` (with extras["toast"]), clear extras["clear_buttons"]'s buttons,
        then send `text` threaded under its message, with a photo, inline buttons or a share-location button
        from `extras`; return the message id ("" when `text` is empty: nothing is sent)."""
        extras = extras or {}
        reply = None
        if address.reply_to and address.reply_to.isdigit():
            reply = ReplyParameters(message_id=int(address.reply_to), allow_sending_without_reply=True)
        chat: int | str = int(address.chat_id) if address.chat_id.lstrip("-").isdigit() else address.chat_id
        markup = _markup(extras)
        with _channel_errors():
            async with self.slots:
                if address.callback_id:
                    await self._answer(address.callback_id, extras.get("toast"))
                if extras.get("clear_buttons"):
                    await self._clear(chat, str(extras["clear_buttons"]))
                if not text.strip():  # a row that only answers a press or clears buttons: no message
                    return ""
                photo = extras.get("photo")
                sent = None
                try:
                    if photo and len(text) <= CAPTION_LIMIT:
                        sent = await self.bot.send_photo(chat_id=chat, photo=photo, caption=text,
                                                         reply_parameters=reply, reply_markup=markup)
                    elif photo:  # a caption this long is refused: the photo goes first, the text under it
                        await self.bot.send_photo(chat_id=chat, photo=photo, reply_parameters=reply)
                except BadRequest as exc:
                    # Telegram refuses some photos (too large, odd proportions, an unknown file id): the words
                    # matter more than the picture, so they go alone rather than not at all.
                    log.warning("telegram: photo refused (%s); sending the text without it", exc)
                if sent is None:
                    return str(await self.bot.send_text(chat, text, reply, markup))
        return str(sent.message_id)

    async def close(self) -> None:
        """Close the HTTP session (a sender lives as long as its worker)."""
        await self.request.shutdown()

    @staticmethod
    def is_group(address: Address) -> bool:
        """Whether the chat is a group (Telegram's group and channel ids are negative): it has its own pace."""
        return address.chat_id.startswith("-")

    async def download(self, file_id: str, max_bytes: int) -> bytes:
        """The bytes of a file someone sent the bot (a report's or a resolution's photo), for the dashboard."""
        with _channel_errors():
            found = await self.bot.get_file(file_id)
            if found.file_size and found.file_size > max_bytes:
                raise PermanentError(f"telegram: file is {found.file_size} bytes, over {max_bytes}")
            data = bytes(await found.download_as_bytearray())
        if len(data) > max_bytes:
            raise PermanentError(f"telegram: file is {len(data)} bytes, over {max_bytes}")
        return data

    async def _answer(self, callback_id: str, toast: str | None) -> None:
        # Stops the button's spinner, with a short notice when there is one. Telegram refuses answers to
        # presses older than a few minutes; the reply itself still matters then, so that refusal is not an error.
        notice = _shorten(toast, TOAST_LIMIT) if toast else None
        try:
            await self.bot.answer_callback_query(callback_id, text=notice, show_alert=False if notice else None)
        except BadRequest:
            pass

    async def _clear(self, chat: int | str, message_id: str) -> None:
        # An answered or outdated question's buttons go, so nobody presses them. A message with nothing left
        # to remove (cleared before, by a retry of this very row; deleted; too old to edit) is fine as it is.
        if not message_id.isdigit():
            log.warning("telegram: clear_buttons names %r, not a message id; nothing cleared", message_id)
            return
        try:
            await self.bot.edit_message_reply_markup(chat_id=chat, message_id=int(message_id), reply_markup=None)
        except BadRequest as exc:
            if not any(reason in str(exc).lower() for reason in _NOTHING_TO_CLEAR):
                raise
            log.info("telegram: buttons of message %s not cleared: %s", message_id, exc)


@contextmanager
def _channel_errors() -> Iterator[None]:
    """Bot API errors as the channel-neutral ones of bots.errors (what the outbox retries, waits for, gives up)."""
    try:
        yield
    except RetryAfter as exc:
        raise RateLimited(_seconds(exc.retry_after), "by Telegram") from exc
    except (Forbidden, InvalidToken, BadRequest) as exc:  # BadRequest is a NetworkError: check it first
        raise PermanentError(f"telegram: {type(exc).__name__}: {exc}") from exc
    except (NetworkError, TelegramError) as exc:
        raise TransientError(f"telegram: {type(exc).__name__}: {exc}") from exc


CAPTION_LIMIT = 1024  # Bot API limit for a photo caption
TOAST_LIMIT = 200  # Bot API limit for a callback answer's text
# BadRequests of editMessageReplyMarkup that mean the buttons are gone already, or can never be removed.
_NOTHING_TO_CLEAR = ("message is not modified", "message to edit not found", "message can't be edited")


def _shorten(text: str, limit: int) -> str:
    """`text`, cut at `limit` characters with an ellipsis when longer (a refused notice would show nothing)."""
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _markup(extras: dict[str, Any]) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    """Inline buttons (their value comes back as a callback) or a one-time share-location keyboard."""
    if extras.get("buttons"):
        return InlineKeyboardMarkup([[InlineKeyboardButton(b["label"], callback_data=b["value"]) for b in row]
                                     for row in extras["buttons"]])
    if extras.get("ask_location"):
        return ReplyKeyboardMarkup([[KeyboardButton(extras["ask_location"], request_location=True)]],
                                   one_time_keyboard=True, resize_keyboard=True)
    return None
