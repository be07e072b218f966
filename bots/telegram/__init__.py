"""Telegram: parse Bot API updates, send replies, long polling and the webhook handler."""
import os

from bots.base import Channel
from bots.telegram.config import TelegramSettings

# Opt in to PTB 22's timedelta durations (e.g. RetryAfter.retry_after) now, instead of a warning per 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")

NAME = "telegram"  # declared once: parse.CHANNEL, the registry and the stored rows use it
CHANNEL = Channel(
    name=NAME, settings=TelegramSettings, parse="bots.telegram.parse:parse_update",
    sender="bots.telegram.send:TelegramSender", listener="bots.telegram.poll:listener",
    webhook="bots.telegram.webhook:mount",
    capabilities=frozenset({"buttons", "locations", "uploads", "edits", "downloads", "officers"}),
    summary="a Telegram bot (long polling or webhook)")
