"""Service configuration from the environment and ``.env`` (the only reader of either)."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from db.config import DEFAULT_DATABASE_URL
from domain.bounds import MAX_BYTES, MAX_DAYS

GIB = 1024**3
DATABASE_SCHEMES = ("sqlite://", "postgres://", "postgresql://", "asyncpg://")


class Settings(BaseSettings):
    """Every knob of the service, with the embedded defaults ``make run`` uses."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    bot_token: SecretStr | None = Field(
        None, description="Telegram bot token from BotFather; without it the bot does not start"
    )
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), description="comma-separated Telegram ids of the admins"
    )
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="`sqlite://PATH` or `postgres://user:password@host:5432/database`",
    )
    api_host: str = Field("127.0.0.1", description="address the HTTP API listens on")
    api_port: int = Field(8080, ge=0, le=65535, description="port the HTTP API listens on")
    # Limits against slow and hostile clients (api.connections); README "Limits".
    api_max_connections: int = Field(
        1000,
        ge=1,
        description="open client connections at most; beyond it the oldest idle or slowest "
        "connection is closed (lowered to fit the open-file limit)",
    )
    api_header_timeout_seconds: float = Field(
        15, gt=0, description="seconds a new connection may take to send its request head"
    )
    api_body_timeout_seconds: float = Field(
        30, gt=0, description="seconds a client may take to send a request body (then 408)"
    )
    webhook_url: str | None = Field(
        None, description="public HTTPS URL of the bot's webhook; unset: long polling"
    )
    webhook_secret: SecretStr | None = Field(
        None,
        description="secret Telegram sends with each webhook update "
        "(A-Z a-z 0-9 _ -); derived from the token when unset",
    )
    telegram_api_base: str | None = Field(
        None, description="base URL of a self-hosted Bot API server; unset: Telegram's"
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis for the bot's conversation state, shared by several instances"
    )
    demo_days: int = Field(7, ge=1, le=MAX_DAYS, description="days the free trial key is valid")
    demo_traffic_bytes: int = Field(
        GIB, ge=0, le=MAX_BYTES, description="traffic of the free trial key"
    )
    expiry_check_seconds: float = Field(
        30, gt=0, description="interval of the expiry sweep and reminders"
    )
    traffic_sync_seconds: float = Field(
        300, gt=0, description="interval of the traffic ledger sync"
    )
    outline_scrape_seconds: float = Field(
        60,
        ge=0,
        description="How often the servers' Prometheus scrapes usage (Outline: 60 s); "
        "0 only for servers that report exact counts (the emulator's exact mode).",
    )
    reconcile_seconds: float = Field(3600, gt=0, description="interval of the reconciler")
    outline_timeout_seconds: float = Field(
        10, gt=0, description="timeout of every call to a VPN server"
    )
    webhook_events_url: str | None = Field(
        None, description="URL that receives the signed outgoing event webhooks"
    )
    webhook_events_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key of the `X-Signature` header of outgoing webhooks"
    )
    webhook_events_timeout_seconds: float = Field(
        10, gt=0, description="timeout of one outgoing webhook delivery"
    )
    webhook_events_max_attempts: int = Field(
        12, ge=1, description="deliveries of one outgoing webhook before it is given up"
    )
    # Lifecycle worker: outbox polling, Telegram's rate limits, leader election.
    outbox_poll_seconds: float = Field(
        1.0, gt=0, description="how often the worker looks for notices and webhooks to send"
    )
    notice_max_attempts: int = Field(
        5, ge=1, description="tries of one Telegram notice before it is given up"
    )
    telegram_rate_per_second: float = Field(
        30, gt=0, description="messages per second the bot sends at most (all chats)"
    )
    telegram_chat_interval_seconds: float = Field(
        1.0, ge=0, description="seconds between two messages to one chat"
    )
    leader_retry_seconds: float = Field(
        5, gt=0, description="how often a standby process tries to lead the worker"
    )
    # Performance (docs/performance.md).
    api_token_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="seconds an API token stays accepted without a database check; a revoked "
        "token is refused by every process within this time (0: check every request)",
    )
    uvloop: bool = Field(True, description="serve on uvloop's event loop when it is installed")
    access_log: bool = Field(
        True, description="write one access-log line per API request and per bot update"
    )
    log_level: str = Field("INFO", description="`DEBUG`, `INFO`, `WARNING` or `ERROR`")
    referral_bonus_days: int = Field(
        7,
        ge=0,
        le=3650,
        description="days added to an inviter's key when a user they invited first pays "
        "(0 turns the bonus off)",
    )
    display_timezone: str = Field(
        "UTC",
        description="IANA time zone the bot shows dates and times in, e.g. Europe/Moscow",
    )
    # Dynamic access keys (ssconf:// links), server health and failover.
    public_url: str | None = Field(
        None,
        description="HTTPS origin (https://host[:port], no path) under which a reverse proxy "
        "serves this app; when set, every key gets an ssconf:// dynamic link served at /conf/",
    )
    link_secret: SecretStr | None = Field(
        None,
        min_length=32,
        description="installation secret (32+ characters) that signs dynamic links; "
        "required with PUBLIC_URL; changing it changes every link",
    )
    link_fetches_per_minute: int = Field(
        30, ge=1, description="dynamic link fetches allowed per client address and minute"
    )
    trusted_proxies: Annotated[frozenset[IPv4Network | IPv6Network], NoDecode] = Field(
        frozenset(),
        description="comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For header names the client (e.g. 127.0.0.1,::1)",
    )
    bot_username: str | None = Field(
        None, description="the bot's @username, named in messages the Outline app shows"
    )
    health_check_seconds: float = Field(
        60, gt=0, description="how often the worker checks that each active server answers"
    )
    failover_minutes: float | None = Field(
        None,
        gt=0,
        description="move the keys of a server unreachable this long to healthy servers "
        "(needs PUBLIC_URL: only dynamic links follow a move)",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="`json`: one JSON object per log line (for log collectors)"
    )
    migrate_on_start: bool = Field(
        False, description="`serve` applies pending migrations before it starts"
    )
    backup_dir: Path | None = Field(
        None,
        description="folder of the worker's scheduled backups (and of `backup` without a "
        "path); unset: no scheduled backups",
    )
    backup_every_hours: float = Field(6, gt=0, description="hours between scheduled backups")
    backup_keep: int = Field(
        28, ge=1, description="scheduled backups kept; older ones are deleted"
    )

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("display_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value

    @property
    def display_tz(self) -> ZoneInfo:
        """``DISPLAY_TIMEZONE`` as a time zone."""
        return ZoneInfo(self.display_timezone)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            parts = value.replace(" ", "").split(",")
            return frozenset(ip_network(part, strict=False) for part in parts if part)
        return value

    @field_validator("public_url")
    @classmethod
    def _https_origin(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
            raise ValueError("PUBLIC_URL must be an https:// origin without a path")
        return f"https://{parts.netloc}"

    @field_validator("bot_username")
    @classmethod
    def _bare_username(cls, value: str | None) -> str | None:
        return value.strip().lstrip("@") or None if value else None

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(DATABASE_SCHEMES):
            raise ValueError("must start with sqlite:// or postgres://")
        return value

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> "Settings":
        if self.webhook_events_url and self.webhook_events_secret is None:
            raise ValueError("WEBHOOK_EVENTS_URL needs WEBHOOK_EVENTS_SECRET to sign the events")
        return self

    @model_validator(mode="after")
    def _links_are_signed(self) -> "Settings":
        if self.public_url and self.link_secret is None:
            raise ValueError("PUBLIC_URL needs LINK_SECRET to sign the dynamic links")
        if self.failover_minutes is not None and not self.public_url:
            raise ValueError("FAILOVER_MINUTES needs PUBLIC_URL: only dynamic links follow a move")
        return self
