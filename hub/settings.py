"""config.yaml → typed, validated settings; secrets come from environment variables."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PositiveInt, ValidationError, create_model, field_validator,
                      model_validator)

import bots
from bots.base import ChannelSettings
from hub.routing_settings import AgencySettings, OfficerSettings, RoutingSettings, UnitSettings
from router import defaults  # plain data, shared with router/context.py
from store.photo_checks import Limits  # verified closure: the checks' defaults

DEFAULT_CONFIG = Path("config.yaml")
S = TypeVar("S", bound=ChannelSettings)
log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A config file that cannot be used; the message names the key and what was expected."""


class _Section(BaseModel):
    # A typo in a key is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class HubSettings(_Section):
    var_dir: Path = Path("var")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class CitySettings(_Section):
    # The city's clock: every time a person reads (chat, dashboard, public map) is shown in it, marked
    # with its abbreviation (WIB); APIs keep ISO 8601 with the offset.
    timezone: str = defaults.TIMEZONE
    # A point farther than this outside every kelurahan polygon of the gazetteer is outside the city:
    # Open311 answers 400, a chat is told so and asked again.
    boundary_margin_m: float = Field(defaults.BOUNDARY_MARGIN_M, ge=0, le=50_000)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{name!r} is not an IANA time zone (e.g. Asia/Jakarta)") from None
        return name


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/crophub.db"
    auto_migrate: bool = True


class EmbeddedRedisSettings(_Section):
    port: int = Field(0, ge=0, le=65535)
    appendonly: bool = True


class RedisSettings(_Section):
    url: str | None = None
    embedded: EmbeddedRedisSettings = EmbeddedRedisSettings()


class WorkerSettings(_Section):
    processes: int = Field(2, ge=1, le=64)
    job_timeout: int = Field(defaults.JOB_TIMEOUT, ge=10)
    stop_timeout: float = Field(60.0, ge=1)
    sweep_interval: float = Field(30.0, gt=0)
    sweep_age: float = Field(60.0, ge=0)
    max_attempts: int = Field(defaults.MAX_ATTEMPTS, ge=1, le=100)


class SendRate(_Section):
    per_second: float = Field(gt=0)
    group_per_minute: float | None = Field(None, gt=0)


class OutboxSettings(_Section):
    retry_intervals: list[PositiveInt] = Field(list(defaults.RETRY_INTERVALS), min_length=1, max_length=20)
    max_retry_after: float = Field(defaults.MAX_RETRY_AFTER, ge=0)
    lock_wait: float = Field(defaults.LOCK_WAIT, gt=0)
    rates: dict[str, SendRate] = Field(default_factory=lambda: {c: SendRate(**r) for c, r in defaults.SEND_RATES.items()})


class DuplicateRule(_Section):
    radius_m: float = Field(gt=0, le=5000)
    window_hours: float = Field(gt=0, le=24 * 30)


DEFAULT_DUPLICATES = {c: DuplicateRule(**r) for c, r in defaults.DUPLICATES.items()}


class SlaRule(_Section):
    response_hours: float = Field(gt=0)
    resolution_hours: float = Field(gt=0)


DEFAULT_SLA = {c: SlaRule(**r) for c, r in defaults.SLA.items()}


# --- verified closure (issue 20, part 6) ---
class ClosureCheckSettings(_Section):
    """tickets.closure_checks: when an officer's "done" photo flags the ticket for the supervisor."""

    max_distance_m: float = Field(Limits.max_distance_m, gt=0, le=100_000)
    hash_distance: int = Field(Limits.hash_distance, ge=0, le=32)
    time_slack_minutes: float = Field(Limits.time_slack_minutes, ge=0, le=7 * 24 * 60)
    compare_days: int = Field(365, ge=1, le=3650)  # earlier photos compared with, by age
# --- end verified closure ---


class TicketSettings(_Section):
    prefix: str = Field(defaults.TICKET_PREFIX, pattern=r"^[A-Z]{2,8}$")
    attach_window_minutes: int = Field(defaults.ATTACH_WINDOW_MINUTES, ge=0)
    dialogue_timeout_minutes: int = Field(defaults.DIALOGUE_TIMEOUT_MINUTES, ge=1)
    duplicates: dict[str, DuplicateRule] = Field(default_factory=lambda: dict(DEFAULT_DUPLICATES))
    sla: dict[str, SlaRule] = Field(default_factory=lambda: dict(DEFAULT_SLA))
    # Category → hours after which a ticket no officer touched closes itself (router/expiry.py).
    expire_after: dict[str, float] = Field(default_factory=lambda: dict(defaults.EXPIRE_AFTER))
    nearby_wait_minutes: int = Field(defaults.NEARBY_WAIT_MINUTES, ge=1, le=24 * 60)
    closure_checks: ClosureCheckSettings = ClosureCheckSettings()  # verified closure (issue 20, part 6)

    @field_validator("expire_after")
    @classmethod
    def _positive_hours(cls, rules: dict[str, float]) -> dict[str, float]:
        wrong = sorted(c for c, hours in rules.items() if not 0 < hours <= 24 * 30)
        if wrong:
            raise ValueError(f"hours must be more than 0 and at most 720: {wrong}")
        return rules

    @field_validator("duplicates", "sla")
    @classmethod
    def _has_default(cls, rules: dict[str, Any]) -> dict[str, Any]:
        if "default" not in rules:
            raise ValueError("needs a `default` rule for categories not listed")
        return rules


class WebSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Map tiles for the maps ("" : none; the gazetteer's outlines are drawn either way).
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    public_days: int = Field(30, ge=1, le=365)
    min_count: int = Field(10, ge=1)
    trending_min: int = Field(3, ge=1)  # a kecamatan needs this many reports this week to be "trending"
    top_reporters: int = Field(10, ge=0, le=100)  # opted-in reporters (by alias) the public page lists; 0: none
    session_hours: float = Field(12.0, gt=0, le=24 * 30)  # a dashboard login lasts this long
    secure_cookies: bool = False  # true when the web app is served over HTTPS (behind a TLS proxy)
    proxy_hops: int = Field(0, ge=0, le=5)  # reverse proxies in front whose X-Forwarded-* headers are believed
    # One uploaded photo; Telegram refuses a bot's photo over 10 MB, so no more is taken.
    max_photo_bytes: int = Field(10 * 1024 * 1024, ge=64 * 1024, le=10 * 1024 * 1024)
    # /metrics (counts only, no personal data): open like /healthz unless the variable metrics_token_env names
    # is set, then only to "Authorization: Bearer <its value>".
    metrics: bool = True
    metrics_token_env: str = "CROPHUB_METRICS_TOKEN"
    # The site's public address (https://lapor.example.go.id): the chat's acknowledgement links the ticket's
    # public page (<public_url>/t/<id>); None: no link. public_text: a report's masked text on that page.
    public_url: str | None = None
    public_text: bool = True

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError("expected the site's address, e.g. https://lapor.jakarta.go.id (no query), or null")
        return url.strip().rstrip("/")

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, url: str) -> str:
        if url and not (url.startswith(("https://", "http://", "/")) and "{z}" in url and "{x}" in url and "{y}" in url):
            raise ValueError("expected a tile URL template with {z}, {x} and {y}, or an empty string")
        return url

    def metrics_token(self) -> str | None:
        """The token /metrics asks for, from the environment; None: /metrics is open."""
        return os.environ.get(self.metrics_token_env) or None


class NlpSettings(_Section):
    categories_file: Path | None = None
    confidence_threshold: float | None = Field(None, ge=0, le=1)  # None: the model's, chosen at training
    water_mass: float | None = Field(None, ge=0, le=1)  # None: the model's, chosen at training
    nominatim_url: str | None = None
    nominatim_user_agent: str = defaults.NOMINATIM_USER_AGENT
    nominatim_timeout: float = Field(defaults.NOMINATIM_TIMEOUT, gt=0, le=30)

    @field_validator("nominatim_url")
    @classmethod
    def _is_url(cls, url: str | None) -> str | None:
        from nlp.nominatim import split_url  # the same rule the client applies

        if url is not None:
            split_url(url)
        return url

    @field_validator("categories_file")
    @classmethod
    def _loads(cls, path: Path | None) -> Path | None:
        # Fail at start, not in every pipeline job, when a city's edited taxonomy cannot be used.
        from nlp.rules import Taxonomy

        if path is not None:
            try:
                Taxonomy.load(path)
            except Exception as exc:
                raise ValueError(f"cannot use this taxonomy file ({type(exc).__name__}: {exc})") from None
        return path


__all__ = ["AgencySettings", "ConfigError", "OfficerSettings", "RoutingSettings", "Settings", "UnitSettings", "load",
           "parse"]


class CoreSettings(_Section):
    """The hub's own sections; `Settings` adds one section per channel of bots.CHANNELS."""

    hub: HubSettings = HubSettings()
    city: CitySettings = CitySettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    workers: WorkerSettings = WorkerSettings()
    outbox: OutboxSettings = OutboxSettings()
    tickets: TicketSettings = TicketSettings()
    web: WebSettings = WebSettings()
    nlp: NlpSettings = NlpSettings()
    routing: RoutingSettings = RoutingSettings()

    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        # web.open311 became the open311 channel's own section; a file written before still works.
        if isinstance(data, dict) and isinstance(data.get("web"), dict) and "open311" in data["web"]:
            web = dict(data["web"])
            if "open311" in data:
                raise ValueError("open311 is set twice: as web.open311 (its old place) and as open311")
            log.warning("config: web.open311 is now the section open311 (same keys); please move it")
            data = {**data, "web": web, "open311": web.pop("open311")}
        return data

    def channel(self, name: str) -> ChannelSettings:
        """The settings section of the channel stored as `name`."""
        from bots import channel

        section: ChannelSettings = getattr(self, channel(name).key)
        return section

    def typed(self, name: str, kind: type[S]) -> S:
        """The section of the channel stored as `name`, as its own settings class (for the code that wires it)."""
        section = self.channel(name)
        if not isinstance(section, kind):
            raise TypeError(f"the {name} section is a {type(section).__name__}, not a {kind.__name__}")
        return section

    @model_validator(mode="after")
    def _routed_categories(self) -> "Settings":
        from nlp.rules import taxonomy

        known = set(taxonomy(str(self.nlp.categories_file) if self.nlp.categories_file else None).categories)
        unknown = sorted(set(self.routing.categories) - known)
        if unknown:
            raise ValueError(f"routing.categories names categories the taxonomy does not have: {unknown}")
        for ch in bots.CHANNELS:
            for key, named in self.channel(ch.name).categories().items():
                unknown = sorted(named - known)
                if unknown:
                    raise ValueError(f"{ch.key}.{key} maps to categories the taxonomy does not have: {unknown}")
        for key in ("duplicates", "sla", "expire_after"):
            unknown = sorted(set(getattr(self.tickets, key)) - known - {"default"})
            if unknown:
                raise ValueError(f"tickets.{key} names categories the taxonomy does not have: {unknown}")
        return self

    @property
    def database_url(self) -> str:
        """Database URL; CROPHUB_DATABASE_URL overrides the file."""
        return os.environ.get("CROPHUB_DATABASE_URL") or self.database.url

    @property
    def redis_url(self) -> str | None:
        """Redis URL; CROPHUB_REDIS_URL overrides the file; None means the embedded Redis."""
        return os.environ.get("CROPHUB_REDIS_URL") or self.redis.url


def _with_channels() -> type[CoreSettings]:
    fields: dict[str, Any] = {ch.key: (ch.settings, Field(default_factory=ch.settings)) for ch in bots.CHANNELS}
    return create_model("Settings", __base__=CoreSettings, __doc__="All of config.yaml.", **fields)


# The type checker sees the hub's sections; a channel's section is read through Settings.channel(name), typed as
# the ChannelSettings it is, so no hub code depends on one channel's keys.
if TYPE_CHECKING:
    Settings = CoreSettings
else:
    Settings = _with_channels()


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key (check the spelling against config.yaml's documented keys)"
    if key.endswith("feed_url"):  # a partner feed URL carries its access token: not repeated in logs
        return f"{key}: {error['msg'].lower()}"
    return f"{key}: {error['msg'].lower()}, got {error.get('input')!r}"


def parse(data: Any, source: Path | None = None) -> Settings:
    """Validate a config mapping; raise ConfigError naming each bad key."""
    where = str(source) if source else "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of sections at the top level, got {type(data).__name__}")
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        lines = "\n  ".join(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(f"{where}: invalid configuration:\n  {lines}") from None
    settings.source = source
    return settings


def load(path: Path | str | None = None) -> Settings:
    """Read and validate a config file (CROPHUB_CONFIG or ./config.yaml when not given)."""
    path = Path(path or os.environ.get("CROPHUB_CONFIG") or DEFAULT_CONFIG)
    if not path.exists():
        if path == DEFAULT_CONFIG:
            return parse({}, None)
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse(data, path)
