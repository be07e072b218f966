"""Per-process setup shared by every crophub command: logging, store, router context, senders."""
from __future__ import annotations

import logging
import sys

from redis import Redis

import bots
from bots import registry
from bots.telegram.config import TelegramSettings
from bots.telegram.parse import bot_id_of
from hub.errors import Fatal
from hub.settings import Settings
from router import context
from router.context import RouterConfig
from router.pace import Rate
from store import db, officers
from store.photo_checks import Limits

log = logging.getLogger("crophub")


def setup_logging(level: str, name: str) -> None:
    """One log format for every process, with the process's role in each line."""
    logging.basicConfig(
        level=level, stream=sys.stderr, force=True,
        format=f"%(asctime)s %(levelname)-7s [{name}] %(name)s: %(message)s",
    )
    # These log every request or job at INFO; at 500 messages/s that is noise, and slow.
    # oauthlib, requests_oauthlib and aioimaplib log credentials or whole mails at DEBUG.
    for noisy in ("httpx", "rq.worker", "rq.queue", "rq.scheduler", "aiohttp.access", "telegram.ext",
                  "alembic.runtime.plugins", "oauthlib", "requests_oauthlib", "aioimaplib", "mail.log"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def router_config(settings: Settings) -> RouterConfig:
    """The router's tunables from settings."""
    return RouterConfig(
        ticket_prefix=settings.tickets.prefix,
        timezone=settings.city.timezone,
        boundary_margin_m=settings.city.boundary_margin_m,
        attach_window_minutes=settings.tickets.attach_window_minutes,
        dialogue_timeout_minutes=settings.tickets.dialogue_timeout_minutes,
        telegram_bot=officers_bot(settings),
        duplicates={c: r.model_dump() for c, r in settings.tickets.duplicates.items()},
        sla={c: r.model_dump() for c, r in settings.tickets.sla.items()},
        expire_after=dict(settings.tickets.expire_after),
        closure=Limits(**settings.tickets.closure_checks.model_dump(exclude={"compare_days"})),
        closure_compare_days=settings.tickets.closure_checks.compare_days,
        nearby_wait_minutes=settings.tickets.nearby_wait_minutes,
        categories_file=str(settings.nlp.categories_file) if settings.nlp.categories_file else None,
        retry_intervals=list(settings.outbox.retry_intervals),
        max_retry_after=settings.outbox.max_retry_after,
        lock_wait=settings.outbox.lock_wait,
        send_rates={c: Rate(**r.model_dump()) for c, r in settings.outbox.rates.items()},
        job_timeout=settings.workers.job_timeout,
        max_attempts=settings.workers.max_attempts,
        confidence_threshold=settings.nlp.confidence_threshold,
        water_mass=settings.nlp.water_mass,
        nominatim_url=settings.nlp.nominatim_url,
        nominatim_user_agent=settings.nlp.nominatim_user_agent,
        nominatim_timeout=settings.nlp.nominatim_timeout,
        routing=settings.routing.model_dump(mode="json", exclude={"officers"}),
        public_url=settings.web.public_url,
    )


def officers_bot(settings: Settings) -> str | None:
    """The Telegram bot officers work in (its id), when the Telegram channel has a token."""
    token = settings.typed("telegram", TelegramSettings).token
    return bot_id_of(token) if token else None


def channel_status(settings: Settings, name: str) -> str | None:
    """None when the channel can run; otherwise the line that says it is off and how to turn it on. What works
    only in part is logged as a warning."""
    section = settings.channel(name)
    off = section.status()
    if off is None:
        for warning in section.warnings():
            log.warning(warning)
    return off


def sync_officers(settings: Settings) -> None:
    """Apply routing.officers from the config to the roster in the database."""
    db.configure(settings.database_url)
    with db.session() as session:
        officers.sync_config(session, [o.model_dump() for o in settings.routing.officers])
    if settings.routing.officers:
        log.info("officers: %d from the config applied", len(settings.routing.officers))


def setup(settings: Settings, redis_url: str) -> Redis:
    """Configure this process's database, router context and senders; return its Redis connection."""
    conn = Redis.from_url(redis_url, health_check_interval=30)
    db.configure(settings.database_url)
    context.configure(router_config(settings), conn)
    registry.configure({ch.name: settings.channel(ch.name).sender_config() for ch in bots.CHANNELS if ch.sender})
    return conn


def redis_url_or_exit(settings: Settings) -> str:
    """The Redis to use: redis.url, else the embedded one a `crophub run` started."""
    url = settings.redis_url
    if url:
        return url
    from hub.embedded_redis import EmbeddedRedis

    embedded = EmbeddedRedis(settings.hub.var_dir)
    if embedded.answers():
        return embedded.url
    raise Fatal("no Redis: set redis.url (or CROPHUB_REDIS_URL), or start everything with `crophub run`")
