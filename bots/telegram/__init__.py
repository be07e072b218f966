"""Telegram: parse Bot API updates, send replies, long polling and the webhook handler."""
import os

# Opt in to PTB 22's timedelta durations (e.g. RetryAfter.retry_after) now, instead of a warning per 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
