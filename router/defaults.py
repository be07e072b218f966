"""The router's defaults as plain data: hub/settings.py validates and documents them (config.yaml), and a
process that was never configured (a test, a one-off job) routes with them."""
from __future__ import annotations

from typing import Any

TICKET_PREFIX = "JKT"  # tickets.prefix: public ids read JKT-2026-000123
TIMEZONE = "Asia/Jakarta"  # city.timezone: the clock people read (WIB)
BOUNDARY_MARGIN_M = 2000.0  # city.boundary_margin_m: how far outside the gazetteer's polygons is still the city
ATTACH_WINDOW_MINUTES = 30  # tickets.attach_window_minutes: a photo or location alone joins the last report
DIALOGUE_TIMEOUT_MINUTES = 60  # tickets.dialogue_timeout_minutes: how long a question waits for its answer
RETRY_INTERVALS = (5, 30, 120, 600, 1800)  # outbox.retry_intervals (s): the next tries of a failed send
MAX_RETRY_AFTER = 30.0  # outbox.max_retry_after (s): a 429's wait beyond this is left to the next try
LOCK_WAIT = 30.0  # outbox.lock_wait (s): how long a worker waits for a chat another one is sending to
JOB_TIMEOUT = 120  # workers.job_timeout (s)
NOMINATIM_USER_AGENT = "crophub"  # nlp.nominatim_user_agent
NOMINATIM_TIMEOUT = 3.0  # nlp.nominatim_timeout (s)
# Per category: a new report within radius_m of an active ticket filed within window_hours joins it.
DUPLICATES: dict[str, dict[str, float]] = {
    "default": {"radius_m": 150, "window_hours": 72},
    "flood": {"radius_m": 500, "window_hours": 24},
    "drainage": {"radius_m": 200, "window_hours": 72},
    "traffic": {"radius_m": 300, "window_hours": 3},
    "jockey_3in1": {"radius_m": 300, "window_hours": 12},
    "illegal_parking": {"radius_m": 100, "window_hours": 12},
    "tree": {"radius_m": 50, "window_hours": 168},
}
# Per category (tickets.expire_after): hours after which a ticket no officer touched closes itself; a category not
# listed never expires. For what is over by itself: a jam, jockeys, a parked car.
EXPIRE_AFTER: dict[str, float] = {"traffic": 6, "jockey_3in1": 12, "illegal_parking": 12}
# tickets.nearby_wait_minutes: how long "support the report nearby?" waits before the report is filed on its own.
NEARBY_WAIT_MINUTES = 15
# Per category: hours to the first officer action, and to resolution.
SLA: dict[str, dict[str, float]] = {
    "default": {"response_hours": 24, "resolution_hours": 72},
    "flood": {"response_hours": 2, "resolution_hours": 24},
    "drainage": {"response_hours": 24, "resolution_hours": 72},
    "traffic": {"response_hours": 1, "resolution_hours": 6},
    "jockey_3in1": {"response_hours": 2, "resolution_hours": 12},
    "illegal_parking": {"response_hours": 4, "resolution_hours": 24},
    "tree": {"response_hours": 12, "resolution_hours": 72},
}
# Per channel, the pace every worker keeps together (outbox.rates): messages per second from the account,
# and per minute into one group chat. Telegram allows about 30/s per bot and 20/min in a group; the WhatsApp Cloud
# API 80/s per business number (its default throughput).
SEND_RATES: dict[str, dict[str, float]] = {"telegram": {"per_second": 30, "group_per_minute": 20},
                                           "whatsapp": {"per_second": 80}}
# workers.max_attempts: tries of a stored message whose job failed or was lost before it is dead-lettered.
MAX_ATTEMPTS = 5
AGENCIES: dict[str, str] = {
    "dsda": "Dinas Sumber Daya Air",
    "dlh": "Dinas Lingkungan Hidup",
    "dishub": "Dinas Perhubungan",
    "satpolpp": "Satpol PP (bersama Kepolisian)",
    "binamarga": "Dinas Bina Marga",
    "distamhut": "Dinas Pertamanan dan Hutan Kota",
    "dinsos": "Dinas Sosial",
    "kelurahan": "Kelurahan (PPSU)",
}
CATEGORY_AGENCY: dict[str, str] = {
    "flood": "dsda", "drainage": "dsda", "garbage": "dlh", "illegal_parking": "dishub", "traffic": "dishub",
    "jockey_3in1": "satpolpp", "billboard": "satpolpp", "road_damage": "binamarga", "street_light": "binamarga",
    "tree": "distamhut", "beggars": "dinsos", "other": "kelurahan",
}
DEFAULT_AGENCY = "kelurahan"
# routing.utilities: companies (not city agencies) a ticket can be handed to (router/handoff.py), by code.
UTILITIES: dict[str, str] = {"pln": "PLN (listrik)", "pam_jaya": "PAM Jaya (air bersih)", "telkom": "Telkom Indonesia"}
# routing.handoff_reasons: why a ticket was handed on, as the public trail and the citizen read it.
HANDOFF_REASONS: dict[str, dict[str, str]] = {
    "bukan_wilayah": {"id": "bukan wilayah kami", "en": "not our area"},
    "bukan_kewenangan": {"id": "bukan kewenangan kami", "en": "not our responsibility"},
    "aset_utilitas": {"id": "aset milik utilitas", "en": "the asset belongs to a utility"},
    "salah_lokasi": {"id": "lokasi salah", "en": "wrong location"},
}


def routing() -> dict[str, Any]:
    """The `routing:` section without officers, as RouterConfig holds it."""
    return {"agencies": {code: {"name": name, "telegram_chat_id": None} for code, name in AGENCIES.items()},
            "categories": dict(CATEGORY_AGENCY), "default_agency": DEFAULT_AGENCY, "units": {},
            "triage_chat_id": None,
            "utilities": {code: {"name": name, "telegram_chat_id": None} for code, name in UTILITIES.items()},
            "handoff_reasons": {code: dict(labels) for code, labels in HANDOFF_REASONS.items()}}
