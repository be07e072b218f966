"""aiohttp app: health, channel webhooks (dashboard and Open311 come in later issues)."""
