"""What a sender may raise, channel-neutral, so retry logic is written once."""
from __future__ import annotations


class SendError(Exception):
    """A reply could not be sent."""


class RateLimited(SendError):
    """The channel asked us to wait `retry_after` seconds before sending again."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(f"rate limited for {retry_after}s {detail}".strip())
        self.retry_after = retry_after


class TransientError(SendError):
    """Network trouble or a server error: the same send may succeed later."""


class PermanentError(SendError):
    """The channel refused the reply for good (blocked by the user, chat gone, bad request)."""
