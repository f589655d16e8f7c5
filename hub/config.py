"""The one settings object: ``config.yaml`` + the chosen profile + ``HUB_<SECTION>__<KEY>``.

Precedence, lowest first: the defaults below, the top-level sections of ``config.yaml``, the
section overlay of the chosen profile (``profiles.<name>``), then environment variables. The
profile is chosen by ``HUB_PROFILE`` or the file's ``profile`` key.

:func:`load` is the only place in the hub that reads ``os.environ``. Any wrong value raises
:class:`ConfigError` naming the dotted key and what was expected; the CLI turns it into exit
code 2.
"""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "AttributionSettings",
    "ConfigError",
    "DatabaseSettings",
    "EdgeSettings",
    "LinkSettings",
    "Profile",
    "Settings",
    "load",
]

ENV_PREFIX = "HUB_"
DEFAULT_PATH = Path("config.yaml")


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the key and what was expected."""


class Profile(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    public_url: str = ""
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    shutdown_timeout_s: float = Field(default=10.0, ge=0)


class DatabaseSettings(_Section):
    url: str = ""
    pool_size: int = Field(default=10, ge=1)
    max_overflow: int = Field(default=10, ge=0)
    echo: bool = False
    auto_migrate: bool = True

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


class RedisSettings(_Section):
    url: str = ""
    max_connections: int = Field(default=512, ge=1)


class TaskSettings(_Section):
    # None: by profile (embedded: inprocess, production: celery).
    runner: Literal["inprocess", "celery"] | None = None

    @field_validator("runner", mode="before")
    @classmethod
    def _empty_is_auto(cls, value: object) -> object:
        return None if value == "" else value
    concurrency: int = Field(default=4, ge=1, le=256)
    broker_url: str = ""
    result_backend: str = ""
    result_expires_s: int = Field(default=86_400, ge=60)
    # Seconds before Redis redelivers a task whose worker died without acknowledging it.
    visibility_timeout_s: int = Field(default=3600, ge=1)


class SecuritySettings(_Section):
    secret_key: SecretStr = SecretStr("")
    api_key_prefix: str = Field(default="hub", pattern=r"^[a-z][a-z0-9]{1,15}$")


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"
    access_log: bool = True


class ImportSettings(_Section):
    max_bytes: int = Field(default=3_145_728, ge=1024)
    timeout_s: float = Field(default=15.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    allow_private: bool = False
    user_agent: str = "hub-product-import/1.0"


class PolicyRules(_Section):
    """The publishing policy of one channel kind or account (see ``policy`` in config.yaml)."""

    max_posts_per_24h: int = Field(default=20, ge=0)
    min_gap_s: float = Field(default=1800.0, ge=0)
    quiet_hours: str = Field(default="22:00-08:00", pattern=r"^(|\d{2}:\d{2}-\d{2}:\d{2})$")
    same_product_days: float = Field(default=3.0, ge=0)
    near_duplicate_days: float = Field(default=7.0, ge=0)
    near_duplicate_bits: int = Field(default=3, ge=-1, le=64)
    rate_count: int | None = Field(default=None, ge=1)
    rate_window_s: float | None = Field(default=None, gt=0)
    rate_burst: int = Field(default=1, ge=1)


class PolicySettings(PolicyRules):
    # Overrides per channel kind: {"telegram": {"min_gap_s": 600}}; checked at load.
    kinds: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _kinds_valid(self) -> PolicySettings:
        for kind in self.kinds:
            self.for_kind(kind)
        return self

    def for_kind(self, kind: str, account: dict[str, Any] | None = None) -> PolicyRules:
        """The rules for `kind`, with an account's own overrides on top."""
        base = self.model_dump(exclude={"kinds"})
        return PolicyRules.model_validate({**base, **self.kinds.get(kind, {}), **(account or {})})


class PublishingSettings(_Section):
    # Seconds a worker holds a target while publishing; longer than any channel call.
    lease_s: float = Field(default=180.0, ge=1)
    max_attempts: int = Field(default=6, ge=1)
    backoff_base_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=900.0, gt=0)
    scan_batch: int = Field(default=500, ge=1)
    requeue_after_s: float = Field(default=120.0, ge=1)
    max_inline_wait_s: float = Field(default=2.0, ge=0)
    # Let connectors download product images from private, loopback and link-local hosts
    # (local test servers only; never on a public hub).
    allow_private_images: bool = False


class LinkSettings(_Section):
    """Tracked links: codes, UTM and the click-id parameter (``hub.links``)."""

    # Characters of a generated code (55-letter alphabet: 8 chars ≈ 46 random bits; ≥ 7).
    code_length: int = Field(default=8, ge=7, le=32)
    # Query parameter the edge fills with a new click id on every redirect.
    click_id_param: str = Field(default="hub_cid", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    # utm_medium of every link unless a campaign's UTM template says otherwise.
    utm_medium: str = Field(default="social", min_length=1, max_length=64)


class EdgeSettings(_Section):
    """The redirect edge ``GET /{code}`` and its click pipeline (``attribution``)."""

    cookie_name: str = Field(default="hub_vid", pattern=r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
    cookie_max_age_s: int = Field(default=63_072_000, ge=60)
    # Clicks of one visitor on one link within this window count once as unique.
    unique_window_s: int = Field(default=86_400, ge=1)
    # How client addresses are stored: truncated (/24, /48), salted hash, or not at all.
    ip_mode: Literal["truncate", "hash", "none"] = "truncate"
    # Proxies in front of the hub that append to X-Forwarded-For (0: use the peer address).
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    # In-process link cache: entries, freshness, and how long an unknown code stays unknown.
    cache_size: int = Field(default=50_000, ge=16)
    cache_ttl_s: float = Field(default=10.0, gt=0)
    negative_ttl_s: float = Field(default=10.0, gt=0)
    redis_cache_ttl_s: int = Field(default=3600, ge=1)
    # Click events are sent in batches: at most this many, at most this late.
    batch_max_events: int = Field(default=500, ge=1, le=10_000)
    batch_max_delay_ms: float = Field(default=5.0, gt=0, le=1000)
    # Embedded profile: the in-process buffer is written to SQL this often.
    flush_every_s: float = Field(default=0.5, gt=0)
    # Production: Redis stream, its consumer group, longest drain run (the job `clicks.drain`
    # runs every second), entries per read, and the idle age after which entries are claimed.
    stream_key: str = Field(default="hub:clicks", min_length=1)
    stream_group: str = Field(default="hub-drain", min_length=1)
    drain_max_s: float = Field(default=5.0, gt=0)
    drain_count: int = Field(default=50, ge=1, le=10_000)
    claim_idle_s: float = Field(default=60.0, ge=0)
    # Seconds between attempts to reach Redis again after it failed (clicks spool meanwhile).
    redis_retry_s: float = Field(default=1.0, gt=0)


class ApiSettings(_Section):
    # Requests per minute per API key (a token bucket: this many at once, refilled evenly);
    # 0 turns the limit off.
    requests_per_minute: int = Field(default=600, ge=0, le=1_000_000)


class WebhookSettings(_Section):
    allow_private: bool = False
    timeout_s: float = Field(default=15.0, gt=0, le=120)
    # Waits before each retry after the first attempt (the Standard Webhooks schedule).
    retry_delays_s: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    disable_after_failed_deliveries: int = Field(default=10, ge=1)
    disable_after_hours: float = Field(default=120.0, gt=0)
    batch_size: int = Field(default=100, ge=1, le=10_000)
    concurrency: int = Field(default=10, ge=1, le=256)

    @field_validator("retry_delays_s")
    @classmethod
    def _delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(d < 0 for d in value):
            raise ValueError("expected delays of 0 seconds or more")
        return value


class AttributionSettings(_Section):
    # Touchpoints count when at most this many days before the conversion.
    lookback_days: int = Field(default=30, ge=1, le=365)
    time_decay_half_life_days: float = Field(default=7.0, gt=0)
    position_first: float = Field(default=0.4, ge=0, le=1)
    position_last: float = Field(default=0.4, ge=0, le=1)
    markov_order: int = Field(default=1, ge=1, le=3)
    # What the models credit: the channel kind ("telegram") or the channel account.
    channel_key: Literal["kind", "account"] = "kind"
    # Data-driven models run per merchant in a batch over this window, capped.
    data_driven_window_days: int = Field(default=90, ge=1, le=730)
    data_driven_max_conversions: int = Field(default=50_000, ge=1)
    data_driven_max_paths: int = Field(default=200_000, ge=0)
    # A conversion is attributed again this long after it arrives (late clicks).
    settle_s: int = Field(default=600, ge=0)
    # Signed hooks: timestamps further than this from now are refused.
    webhook_tolerance_s: int = Field(default=300, ge=1, le=86_400)
    # Order note/meta key carrying the visitor id (the click id's is links.click_id_param).
    visitor_id_param: str = Field(default="hub_vid", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    @model_validator(mode="after")
    def _ends_fit(self) -> AttributionSettings:
        if self.position_first + self.position_last > 1.0:
            raise ValueError("position_first + position_last: expected at most 1")
        return self


class Settings(BaseSettings):
    """Every setting of the hub; frozen once loaded."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    profile: Profile = Profile.EMBEDDED
    data_dir: Path = Path("var")
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    tasks: TaskSettings = TaskSettings()
    security: SecuritySettings = SecuritySettings()
    logging: LoggingSettings = LoggingSettings()
    product_import: ImportSettings = ImportSettings()
    attribution: AttributionSettings = AttributionSettings()
    api: ApiSettings = ApiSettings()
    webhooks: WebhookSettings = WebhookSettings()
    links: LinkSettings = LinkSettings()
    edge: EdgeSettings = EdgeSettings()
    policy: PolicySettings = PolicySettings()
    publishing: PublishingSettings = PublishingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file, which arrives as init arguments.
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _profile_needs(self) -> Settings:
        if not self.database.url and self.profile is Profile.EMBEDDED:
            url = f"sqlite+aiosqlite:///{self.data_dir / 'hub.sqlite3'}"
            object.__setattr__(self, "database", self.database.model_copy(update={"url": url}))
        if not self.database.url:
            raise ValueError("database.url: expected a database URL, got nothing")
        if self.tasks.runner is None:
            runner = "inprocess" if self.profile is Profile.EMBEDDED else "celery"
            object.__setattr__(self, "tasks", self.tasks.model_copy(update={"runner": runner}))
        if self.profile is Profile.PRODUCTION:
            if self.database.is_sqlite:
                raise ValueError(
                    "database.url: expected a PostgreSQL URL on the production profile"
                )
            if not self.redis.url:
                raise ValueError("redis.url: expected a Redis URL on the production profile")
            if not self.security.secret_key.get_secret_value():
                raise ValueError(
                    "security.secret_key: expected a secret of at least 32 characters on the "
                    "production profile (generate one with: hub secret)"
                )
        key = self.security.secret_key.get_secret_value()
        if key and len(key) < 32:
            raise ValueError("security.secret_key: expected at least 32 characters")
        if self.tasks.runner == "celery" and not (self.tasks.broker_url or self.redis.url):
            raise ValueError("tasks.broker_url: expected a broker URL (or redis.url) for celery")
        return self

    @property
    def broker_url(self) -> str:
        return self.tasks.broker_url or self.redis.url

    @property
    def result_backend(self) -> str:
        return self.tasks.result_backend or self.redis.url


def load(path: str | Path | None = None) -> Settings:
    """Read the settings once; raise :class:`ConfigError` on any wrong value."""
    env = os.environ
    explicit = path is not None or f"{ENV_PREFIX}CONFIG" in env
    config_path = Path(path if path is not None else env.get(f"{ENV_PREFIX}CONFIG", DEFAULT_PATH))
    raw = _read_yaml(config_path, required=explicit)
    profiles = raw.pop("profiles", None) or {}
    if not isinstance(profiles, dict):
        raise ConfigError("profiles: expected a mapping of profile name to sections")
    name = str(env.get(f"{ENV_PREFIX}PROFILE") or raw.get("profile") or Profile.EMBEDDED)
    if name not in {p.value for p in Profile}:
        raise ConfigError(f"profile: expected one of embedded, production (got {name!r})")
    overlay = profiles.get(name) or {}
    if not isinstance(overlay, dict):
        raise ConfigError(f"profiles.{name}: expected a mapping of sections")
    merged = _deep_merge(raw, overlay)
    merged["profile"] = name
    try:
        settings = Settings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_path)) from None
    return _with_secret(settings)


def _read_yaml(path: Path, *, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"config file {path}: not found")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections at the top")
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError, path: Path) -> str:
    lines = [f"invalid settings ({path}):"]
    for err in exc.errors(include_url=False):
        key = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if key:
            env_name = ENV_PREFIX + "__".join(str(p).upper() for p in err["loc"])
            shown = "" if isinstance(err.get("input"), dict) else f" (got {err.get('input')!r})"
            lines.append(f"  {key}: {msg}{shown}  [env {env_name}]")
        else:
            lines.append(f"  {msg}")
    return "\n".join(lines)


def _with_secret(settings: Settings) -> Settings:
    """On the embedded profile, keep a generated secret in the data directory."""
    if settings.security.secret_key.get_secret_value():
        return settings
    key_file = settings.data_dir / "secret.key"
    if key_file.exists():
        secret = key_file.read_text(encoding="utf-8").strip()
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        key_file.write_text(secret + "\n", encoding="utf-8")
        key_file.chmod(0o600)
    security = settings.security.model_copy(update={"secret_key": SecretStr(secret)})
    return settings.model_copy(update={"security": security})
