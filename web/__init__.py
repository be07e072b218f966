"""aiohttp app: the public page and map, the web chat, the officers' dashboard and map, the supervisors'
statistics, Open311 GeoReport v2, channel webhooks, health, readiness and metrics."""
