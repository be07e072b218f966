"""config.yaml → typed, validated settings; secrets come from environment variables."""
from __future__ import annotations

import csv
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator,
                      model_validator)

from ingest.waze import parse as waze_parse
from ingest.waze import track as waze_track
from router import defaults  # plain data, shared with router/context.py

DEFAULT_CONFIG = Path("config.yaml")


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


class TicketSettings(_Section):
    prefix: str = Field(defaults.TICKET_PREFIX, pattern=r"^[A-Z]{2,8}$")
    attach_window_minutes: int = Field(defaults.ATTACH_WINDOW_MINUTES, ge=0)
    dialogue_timeout_minutes: int = Field(defaults.DIALOGUE_TIMEOUT_MINUTES, ge=1)
    duplicates: dict[str, DuplicateRule] = Field(default_factory=lambda: dict(DEFAULT_DUPLICATES))
    sla: dict[str, SlaRule] = Field(default_factory=lambda: dict(DEFAULT_SLA))

    @field_validator("duplicates", "sla")
    @classmethod
    def _has_default(cls, rules: dict[str, Any]) -> dict[str, Any]:
        if "default" not in rules:
            raise ValueError("needs a `default` rule for categories not listed")
        return rules


class TelegramWebhookSettings(_Section):
    url: str | None = None
    path: str = Field("/telegram/webhook", pattern=r"^/")
    secret_env: str = "CROPHUB_TELEGRAM_WEBHOOK_SECRET"


class TelegramSettings(_Section):
    token_env: str = "CROPHUB_TELEGRAM_TOKEN"
    mode: Literal["polling", "webhook"] = "polling"
    api_base_url: str = Field("https://api.telegram.org/bot", pattern=r"^https?://")
    file_base_url: str = Field("https://api.telegram.org/file/bot", pattern=r"^https?://")
    poll_timeout: int = Field(30, ge=0, le=50)
    poll_limit: int = Field(100, ge=1, le=100)
    poll_batch_wait: float = Field(0.05, ge=0, le=5)
    connection_pool: int = Field(8, ge=1, le=256)
    webhook: TelegramWebhookSettings = TelegramWebhookSettings()

    @property
    def token(self) -> str | None:
        """The bot token from the environment, or None when the channel is off."""
        return os.environ.get(self.token_env) or None

    @property
    def webhook_secret(self) -> str | None:
        """The webhook secret_token from the environment."""
        return os.environ.get(self.webhook.secret_env) or None

    def sender_config(self) -> dict[str, Any]:
        """The plain dict a Telegram sender is built from, in any worker."""
        return {
            "token_env": self.token_env,
            "api_base_url": self.api_base_url,
            "file_base_url": self.file_base_url,
            "connection_pool": self.connection_pool,
        }


class TwitterSettings(_Section):
    # The city's account: mentions of it are read, replies are posted as it. On when account_id is set
    # and the bearer token's environment variable is.
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
    poll_interval: float = Field(60.0, ge=1)
    max_pages: int = Field(5, ge=1, le=100)
    max_rate_limit_wait: float = Field(900.0, ge=1)
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

    def sender_config(self) -> dict[str, Any]:
        """The plain dict a Twitter sender is built from, in any worker (names of env vars, not secrets)."""
        return self.model_dump()


class ImapSettings(_Section):
    host: str | None = None
    port: int = Field(993, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str | None = None
    password_env: str = "CROPHUB_EMAIL_PASSWORD"
    mailbox: str = "INBOX"
    idle: bool = True  # IMAP IDLE when the server offers it; polling otherwise
    poll_interval: float = Field(60.0, ge=1)
    idle_timeout: float = Field(29 * 60, ge=10, le=29 * 60)  # RFC 2177: re-issue IDLE within 29 minutes
    timeout: float = Field(30.0, gt=0)
    batch_size: int = Field(50, ge=1, le=1000)
    batch_bytes: int = Field(25_000_000, ge=1_000_000)
    cafile: Path | None = None


class SmtpSettings(_Section):
    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None  # default: imap.username
    password_env: str = "CROPHUB_EMAIL_PASSWORD"
    timeout: float = Field(30.0, gt=0)
    cafile: Path | None = None


class EmailSettings(_Section):
    # The complaint inbox: on when address and imap.host are set.
    address: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+$")
    display_name: str = "Pengaduan Warga Jakarta"
    imap: ImapSettings = ImapSettings()
    smtp: SmtpSettings = SmtpSettings()
    max_attachment_bytes: int = Field(5_000_000, ge=1)
    max_message_bytes: int = Field(25_000_000, ge=1)

    def sender_config(self) -> dict[str, Any]:
        """The plain dict an email sender is built from, in any worker (names of env vars, not secrets)."""
        data = self.model_dump(mode="json")
        data["smtp"]["username"] = self.smtp.username or self.imap.username
        return data


class WazeSettings(_Section):
    # The Waze for Cities partner feed (JSON): on when feed_url is set, or the environment variable
    # feed_url_env names is (partner feed URLs carry an access token: keep them out of the file).
    feed_url: str | None = Field(None, pattern=r"^https?://")
    feed_url_env: str = "CROPHUB_WAZE_FEED_URL"
    poll_interval: float = Field(120.0, ge=5)
    timeout: float = Field(30.0, gt=0)
    max_feed_bytes: int = Field(20_000_000, ge=1000)
    max_retry_after: float = Field(900.0, ge=0)
    kinds: dict[str, str] = Field(default_factory=lambda: dict(waze_parse.DEFAULT_KINDS))
    min_jam_level: int = Field(waze_parse.DEFAULT_MIN_JAM_LEVEL, ge=0, le=5)
    min_corroboration: int = Field(waze_parse.DEFAULT_MIN_CORROBORATION, ge=0, le=waze_parse.CORROBORATION_MAX)
    misses_before_gone: int = Field(waze_track.DEFAULT_MISSES_BEFORE_GONE, ge=1, le=100)

    @field_validator("kinds")
    @classmethod
    def _upper(cls, kinds: dict[str, str]) -> dict[str, str]:
        return {key.strip().upper(): value for key, value in kinds.items()}

    def url(self) -> str | None:
        """The feed URL: from the environment variable if set, else from the file."""
        value = os.environ.get(self.feed_url_env) or self.feed_url
        return value or None

    def poller_config(self) -> dict[str, Any]:
        """The plain dict the poller is built from (with the URL, which may carry a token)."""
        return {**self.model_dump(exclude={"feed_url", "feed_url_env"}), "feed_url": self.url()}


class Open311Settings(_Section):
    enabled: bool = True
    jurisdiction_id: str = "jakarta.go.id"
    # Keys that may POST requests, from the environment: "name:key,name:key" (a bare key is named by its
    # first 6 characters). Reading needs no key.
    api_keys_env: str = "CROPHUB_OPEN311_API_KEYS"
    max_requests: int = Field(1000, ge=1, le=10_000)
    default_days: int = Field(90, ge=1, le=3650)
    public_photos: bool = False

    def api_keys(self) -> dict[str, str]:
        """key → client name, from the environment variable api_keys_env names."""
        keys: dict[str, str] = {}
        for entry in (os.environ.get(self.api_keys_env) or "").split(","):
            name, _, key = entry.strip().rpartition(":")
            if key:
                keys[key] = name or key[:6]
        return keys


class WebSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Map tiles for the maps ("" : none; the gazetteer's outlines are drawn either way).
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    public_days: int = Field(30, ge=1, le=365)
    min_count: int = Field(10, ge=1)
    session_hours: float = Field(12.0, gt=0, le=24 * 30)  # a dashboard login lasts this long
    secure_cookies: bool = False  # true when the web app is served over HTTPS (behind a TLS proxy)
    proxy_hops: int = Field(0, ge=0, le=5)  # reverse proxies in front whose X-Forwarded-* headers are believed
    # One uploaded photo; Telegram refuses a bot's photo over 10 MB, so no more is taken.
    max_photo_bytes: int = Field(10 * 1024 * 1024, ge=64 * 1024, le=10 * 1024 * 1024)
    # /metrics (counts only, no personal data): open like /healthz unless the variable metrics_token_env names
    # is set, then only to "Authorization: Bearer <its value>".
    metrics: bool = True
    metrics_token_env: str = "CROPHUB_METRICS_TOKEN"
    open311: Open311Settings = Open311Settings()

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


ROLES = ("petugas", "lurah", "camat", "agency_staff", "agency_head", "supervisor")
AREAS_CSV = Path(__file__).resolve().parents[1] / "nlp" / "data" / "jakarta" / "jakarta_wilayah_2025.csv"
_AREA = r"^31(\.\d{2}){1,2}(\.\d{4})?$"  # a kota, kecamatan or kelurahan code: 31.75, 31.75.03, 31.75.03.1001


class AgencySettings(_Section):
    name: str = Field(min_length=1)
    telegram_chat_id: str | None = None  # the agency's group chat, when it runs one


class UnitSettings(_Section):
    name: str = Field(min_length=1)
    telegram_chat_id: str | None = None  # the unit's group chat (e.g. a kelurahan's PPSU group)


class OfficerSettings(_Section):
    name: str = Field(min_length=1)
    telegram_id: str = Field(pattern=r"^\d{1,20}$")
    role: Literal[ROLES] = "petugas"  # type: ignore[valid-type]
    areas: list[str] = []
    agencies: list[str] = []

    @field_validator("telegram_id", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads a bare id as a number

    @field_validator("areas")
    @classmethod
    def _codes(cls, areas: list[str]) -> list[str]:
        return [_area_code(a) for a in areas]


def _area_code(code: str) -> str:
    if not re.match(_AREA, code):
        raise ValueError(f"{code!r} is not a DKI Jakarta area code (31.75, 31.75.03 or 31.75.03.1001)")
    if code not in _known_area_codes():
        # A well-formed code that names no area would silently route nothing to that officer or unit.
        raise ValueError(f"{code!r} names no area in nlp/data/jakarta/jakarta_wilayah_2025.csv")
    return code


@lru_cache(maxsize=1)
def _known_area_codes() -> frozenset[str]:
    with open(AREAS_CSV, encoding="utf-8") as f:
        return frozenset(row["kode"] for row in csv.DictReader(f))


DEFAULT_AGENCIES = {code: AgencySettings(name=name) for code, name in defaults.AGENCIES.items()}


class RoutingSettings(_Section):
    agencies: dict[str, AgencySettings] = Field(default_factory=lambda: dict(DEFAULT_AGENCIES))
    categories: dict[str, str] = Field(default_factory=lambda: dict(defaults.CATEGORY_AGENCY))
    default_agency: str = defaults.DEFAULT_AGENCY
    units: dict[str, UnitSettings] = {}
    # The city-wide triage chat: it gets the card of a ticket no officer, unit or agency chat covers.
    triage_chat_id: str | None = None
    officers: list[OfficerSettings] = []

    @field_validator("triage_chat_id", mode="before")
    @classmethod
    def _chat_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value  # YAML reads a bare chat id as a number

    @field_validator("units")
    @classmethod
    def _unit_codes(cls, units: dict[str, UnitSettings]) -> dict[str, UnitSettings]:
        return {_area_code(code): unit for code, unit in units.items()}

    @model_validator(mode="after")
    def _known_agencies(self) -> "RoutingSettings":
        named = [("default_agency", self.default_agency)]
        named += [(f"categories.{c}", a) for c, a in self.categories.items()]
        named += [(f"officers[{i}].agencies", a) for i, o in enumerate(self.officers) for a in o.agencies]
        unknown = [f"{where}: {agency!r}" for where, agency in named if agency not in self.agencies]
        if unknown:
            raise ValueError(f"agencies not defined under routing.agencies: {', '.join(unknown)}")
        ids = [o.telegram_id for o in self.officers]
        if len(ids) != len(set(ids)):
            raise ValueError("an officer's telegram_id appears twice in routing.officers")
        return self


class Settings(_Section):
    hub: HubSettings = HubSettings()
    city: CitySettings = CitySettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    workers: WorkerSettings = WorkerSettings()
    outbox: OutboxSettings = OutboxSettings()
    tickets: TicketSettings = TicketSettings()
    telegram: TelegramSettings = TelegramSettings()
    twitter: TwitterSettings = TwitterSettings()
    email: EmailSettings = EmailSettings()
    waze: WazeSettings = WazeSettings()
    web: WebSettings = WebSettings()
    nlp: NlpSettings = NlpSettings()
    routing: RoutingSettings = RoutingSettings()

    source: Path | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _routed_categories(self) -> "Settings":
        from nlp.rules import taxonomy

        known = set(taxonomy(str(self.nlp.categories_file) if self.nlp.categories_file else None).categories)
        unknown = sorted(set(self.routing.categories) - known)
        if unknown:
            raise ValueError(f"routing.categories names categories the taxonomy does not have: {unknown}")
        unknown = sorted(set(self.waze.kinds.values()) - known)
        if unknown:
            raise ValueError(f"waze.kinds maps to categories the taxonomy does not have: {unknown}")
        for key in ("duplicates", "sla"):
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
