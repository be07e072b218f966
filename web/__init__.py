"""aiohttp app: health, channel webhooks, Open311 GeoReport v2 (the dashboard and public map are still to come)."""
