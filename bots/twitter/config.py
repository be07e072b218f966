"""The `twitter:` section of config.yaml: the city's account, whose mentions are read and answered."""
from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bots.base import ChannelSettings

SECRETS = ("consumer_key_env", "consumer_secret_env", "access_token_env", "access_token_secret_env")


class TwitterSettings(ChannelSettings):
    # On when account_id is set and the bearer token's environment variable is.
    account_id: str | None = Field(None, pattern=r"^\d{1,20}$")
    account_username: str | None = Field(None, pattern=r"^@?\w{1,15}$")
    api_base_url: str = Field("https://api.twitter.com", pattern=r"^https?://")
    bearer_token_env: str = "CROPHUB_TWITTER_BEARER_TOKEN"
    # OAuth 1.0a user context, needed to post replies as the account.
    consumer_key_env: str = "CROPHUB_TWITTER_CONSUMER_KEY"
    consumer_secret_env: str = "CROPHUB_TWITTER_CONSUMER_SECRET"
    access_token_env: str = "CROPHUB_TWITTER_ACCESS_TOKEN"
    access_token_secret_env: str = "CROPHUB_TWITTER_ACCESS_TOKEN_SECRET"
    mode: Literal["polling", "stream"] = "polling"
    poll_interval: float = Field(60.0, ge=1)  # seconds between mention searches
    max_pages: int = Field(5, ge=1, le=100)  # pages of mentions read per search
    max_rate_limit_wait: float = Field(900.0, ge=1)  # longest 429 wait honoured before giving up a try
    timeout: float = Field(30.0, gt=0)

    @field_validator("account_username")
    @classmethod
    def _no_at(cls, value: str | None) -> str | None:
        return value.lstrip("@") if value else value

    @model_validator(mode="after")
    def _stream_needs_username(self) -> "TwitterSettings":
        if self.mode == "stream" and self.account_id and not self.account_username:
            raise ValueError("twitter.account_username is required when twitter.mode is stream (its rule is @name)")
        return self

    def secret(self, env: str) -> str | None:
        """A credential from the environment variable named by one of the *_env keys."""
        return os.environ.get(getattr(self, env)) or None

    def status(self) -> str | None:
        """None when the channel can run; otherwise the line that says it is off and how to turn it on."""
        if not self.account_id:
            return "twitter: channel off: set twitter.account_id (the city account's numeric user id) to turn it on"
        if not self.secret("bearer_token_env"):
            return f"twitter: channel off: no API token. To turn it on, export {self.bearer_token_env}=<bearer token>"
        return None

    def warnings(self) -> list[str]:
        """Mentions can be read with the bearer token alone; replies need the user-context keys too."""
        missing = [getattr(self, key) for key in SECRETS if not self.secret(key)]
        return [f"twitter: mentions are read, but replies cannot be posted until {', '.join(missing)} are set"] if missing else []

    def sender_config(self) -> dict[str, Any]:
        """The plain data a Twitter sender or poller is built from (names of env vars, not secrets)."""
        return self.model_dump()
