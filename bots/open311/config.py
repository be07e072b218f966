"""The `open311:` section of config.yaml: the GeoReport v2 API served by `crophub web` under /open311/v2/."""
from __future__ import annotations

import os

from pydantic import Field

from bots.base import ChannelSettings


class Open311Settings(ChannelSettings):
    enabled: bool = True
    jurisdiction_id: str = "jakarta.go.id"
    # Keys that may POST requests, from the environment: "name:key,name:key" (a bare key is named by its
    # first 6 characters). Reading needs no key.
    api_keys_env: str = "CROPHUB_OPEN311_API_KEYS"
    max_requests: int = Field(1000, ge=1, le=10_000)  # the most requests one listing returns
    default_days: int = Field(90, ge=1, le=3650)  # a listing without start_date covers this many days
    public_photos: bool = False  # true: requests show their photo's URL (the photos are then public)

    def api_keys(self) -> dict[str, str]:
        """key → client name, from the environment variable api_keys_env names."""
        keys: dict[str, str] = {}
        for entry in (os.environ.get(self.api_keys_env) or "").split(","):
            name, _, key = entry.strip().rpartition(":")
            if key:
                keys[key] = name or key[:6]
        return keys

    def status(self) -> str | None:
        """None when the API is served; otherwise the line that says how to turn it on."""
        return None if self.enabled else "open311: API off: set open311.enabled: true to serve /open311/v2/"

    def listens(self) -> bool:
        """Clients POST to `crophub web`: there is nothing to listen to."""
        return False
