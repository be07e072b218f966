"""Per-process setup shared by every crophub command: logging, store, router context, senders."""
from __future__ import annotations

import logging
import os
import sys

from redis import Redis

from bots import registry
from bots.telegram.parse import bot_id_of
from hub.errors import Fatal
from hub.settings import Settings
from router import context
from router.context import RouterConfig
from router.pace import Rate
from store import db, officers

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
        telegram_bot=bot_id_of(settings.telegram.token) if settings.telegram.token else None,
        duplicates={c: r.model_dump() for c, r in settings.tickets.duplicates.items()},
        sla={c: r.model_dump() for c, r in settings.tickets.sla.items()},
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
    )


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
    registry.configure({"telegram": settings.telegram.sender_config(), "twitter": settings.twitter.sender_config(),
                        "email": settings.email.sender_config()})
    return conn


def telegram_status(settings: Settings) -> str | None:
    """None when Telegram can run; otherwise the one line that says it is off and how to turn it on."""
    tg = settings.telegram
    if not tg.token:
        return (f"telegram: channel off: no bot token. To turn it on, export {tg.token_env}=<token from "
                f"@BotFather> (and set telegram.api_base_url for a self-hosted Bot API server)")
    if tg.mode == "webhook" and not (tg.webhook.url and tg.webhook_secret):
        return (f"telegram: channel off: webhook mode needs telegram.webhook.url in the config and a secret "
                f"in {tg.webhook.secret_env}")
    return None


def twitter_status(settings: Settings) -> str | None:
    """None when the Twitter channel can run; otherwise the line that says it is off and how to turn it on."""
    tw = settings.twitter
    if not tw.account_id:
        return "twitter: channel off: set twitter.account_id (the city account's numeric user id) to turn it on"
    if not tw.secret("bearer_token_env"):
        return f"twitter: channel off: no API token. To turn it on, export {tw.bearer_token_env}=<bearer token>"
    missing = [getattr(tw, key) for key in ("consumer_key_env", "consumer_secret_env", "access_token_env",
                                            "access_token_secret_env") if not tw.secret(key)]
    if missing:
        log.warning("twitter: mentions are read, but replies cannot be posted until %s are set", ", ".join(missing))
    return None


def email_status(settings: Settings) -> str | None:
    """None when the email channel can run; otherwise the line that says it is off and how to turn it on."""
    em = settings.email
    if not em.address or not em.imap.host:
        return "email: channel off: set email.address and email.imap.host (and smtp.host for replies) to turn it on"
    if not os.environ.get(em.imap.password_env):
        # The reader always logs in (as imap.username, or as the address): without a password it never could.
        return f"email: channel off: no IMAP password. To turn it on, export {em.imap.password_env}=<password>"
    if not em.smtp.host:
        log.warning("email: the inbox is read, but replies cannot be sent until email.smtp.host is set")
    return None


def waze_status(settings: Settings) -> str | None:
    """None when the Waze feed can be polled; otherwise the line that says it is off and how to turn it on."""
    url = settings.waze.url()
    if not url:
        return (f"waze: feed off: set waze.feed_url, or export {settings.waze.feed_url_env}=<partner feed URL>, "
                f"to turn it on")
    if not url.startswith(("http://", "https://")):
        # Not echoed: the URL carries the feed's access token.
        return f"waze: feed off: {settings.waze.feed_url_env} is not an http(s):// URL"
    return None


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
