"""What router jobs need from the process they run in: tunables and the Redis connection."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue

from ingest.jobs import OUTBOX_QUEUE
from nlp import classify
from nlp.classify import Classifier
from nlp import rules
from nlp.nominatim import NominatimFallback
from router import defaults
from router.pace import Rate
from store.photo_checks import Limits


@dataclass
class RouterConfig:
    """Router tunables; documented with their defaults in config.yaml."""

    ticket_prefix: str = defaults.TICKET_PREFIX
    timezone: str = defaults.TIMEZONE
    boundary_margin_m: float = defaults.BOUNDARY_MARGIN_M
    attach_window_minutes: int = defaults.ATTACH_WINDOW_MINUTES
    dialogue_timeout_minutes: int = defaults.DIALOGUE_TIMEOUT_MINUTES
    telegram_bot: str | None = None  # the Telegram bot's id (from its token): officers' cards come from it
    # tickets.duplicates and tickets.sla
    duplicates: dict[str, dict[str, float]] = field(default_factory=lambda: dict(defaults.DUPLICATES))
    sla: dict[str, dict[str, float]] = field(default_factory=lambda: dict(defaults.SLA))
    expire_after: dict[str, float] = field(default_factory=lambda: dict(defaults.EXPIRE_AFTER))  # hours
    closure: Limits = field(default_factory=Limits)  # tickets.closure_checks (verified closure)
    closure_compare_days: int = 365  # tickets.closure_checks.compare_days
    nearby_wait_minutes: int = defaults.NEARBY_WAIT_MINUTES
    categories_file: str | None = None
    retry_intervals: list[int] = field(default_factory=lambda: list(defaults.RETRY_INTERVALS))
    max_retry_after: float = defaults.MAX_RETRY_AFTER
    lock_wait: float = defaults.LOCK_WAIT
    send_rates: dict[str, Rate] = field(default_factory=lambda: {c: Rate(**r) for c, r in defaults.SEND_RATES.items()})
    job_timeout: int = defaults.JOB_TIMEOUT
    max_attempts: int = defaults.MAX_ATTEMPTS  # workers.max_attempts
    confidence_threshold: float | None = None  # nlp.confidence_threshold; None: the trained model's
    water_mass: float | None = None  # nlp.water_mass (the water guard); None: the trained model's
    nominatim_url: str | None = None
    nominatim_user_agent: str = defaults.NOMINATIM_USER_AGENT
    nominatim_timeout: float = defaults.NOMINATIM_TIMEOUT
    routing: dict[str, Any] = field(default_factory=defaults.routing)  # routing: in config.yaml, officers aside
    public_url: str | None = None  # web.public_url: acknowledgements link <public_url>/t/<id>; None: no link


_config = RouterConfig()
_redis: Redis | None = None
_classifier: Classifier | None = None
_loaded: tuple[tuple[object, ...], Classifier] | None = None  # the last model loaded, by what it was loaded with
_nominatim: NominatimFallback | None = None


def configure(config: RouterConfig, redis: Redis) -> None:
    """Set this process's router config and Redis connection (hub does this at start)."""
    global _config, _redis, _classifier, _nominatim
    _config, _redis, _classifier = config, redis, None
    _nominatim = NominatimFallback(config.nominatim_url, config.nominatim_user_agent, config.nominatim_timeout) \
        if config.nominatim_url else None


def config() -> RouterConfig:
    """This process's router config."""
    return _config


def redis() -> Redis:
    """This process's Redis connection."""
    if _redis is None:
        raise RuntimeError("router.context.configure() has not been called in this process")
    return _redis


def outbox_queue() -> Queue:
    """The queue send jobs go on."""
    return Queue(OUTBOX_QUEUE, connection=redis())


def confidence_threshold() -> float:
    """The confidence below which a category is asked about: nlp.confidence_threshold, else the model's (the
    loaded classifier has resolved which)."""
    return classifier().threshold


def taxonomy() -> rules.Taxonomy:
    """The categories this process works with: nlp.categories_file when a city sets one, else the packaged
    taxonomy; the router, the web pages and Open311 all read this one."""
    return rules.taxonomy(_config.categories_file)


def classifier() -> Classifier:
    """This process's category classifier, loaded on first use (trained first if it was never built)."""
    global _classifier
    if _classifier is None:
        taxonomy = Path(_config.categories_file) if _config.categories_file else classify.DEFAULT_TAXONOMY
        classify.ensure_model(taxonomy)  # `make` (or `crophub run`) has normally built it already
        model = classify.MODEL_DIR / classify.MODEL_FILE
        key = (str(taxonomy), _config.confidence_threshold, _config.water_mass, model.stat().st_mtime_ns)
        # A process configured again with the same settings (tests, a reload) keeps the loaded model:
        # loading it costs ~0.3 s of CPU each time.
        global _loaded
        if _loaded is None or _loaded[0] != key:
            _loaded = (key, Classifier(taxonomy=rules.taxonomy(_config.categories_file),
                                       threshold=_config.confidence_threshold, water_mass=_config.water_mass))
        _classifier = _loaded[1]
    return _classifier


def nominatim() -> NominatimFallback | None:
    """The street-level geocoding fallback, when one is configured."""
    return _nominatim
