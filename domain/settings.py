"""Service configuration from the environment and ``.env`` (the only reader of either)."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from db.config import DEFAULT_DATABASE_URL

GIB = 1024**3


class Settings(BaseSettings):
    """Every knob of the service, with the embedded defaults ``make run`` uses."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    bot_token: SecretStr | None = None
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    database_url: str = DEFAULT_DATABASE_URL
    api_host: str = "127.0.0.1"
    api_port: int = Field(8080, ge=0, le=65535)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    telegram_api_base: str | None = None
    redis_url: SecretStr | None = None
    demo_days: int = Field(7, ge=1)
    demo_traffic_bytes: int = Field(GIB, ge=0)
    expiry_check_seconds: float = Field(30, gt=0)
    traffic_sync_seconds: float = Field(300, gt=0)
    outline_scrape_seconds: float = Field(
        60,
        ge=0,
        description="How often the servers' Prometheus scrapes usage (Outline: 60 s); "
        "0 only for servers that report exact counts (the emulator's exact mode).",
    )
    reconcile_seconds: float = Field(3600, gt=0)
    outline_timeout_seconds: float = Field(10, gt=0)
    webhook_events_url: str | None = None
    webhook_events_secret: SecretStr | None = None
    webhook_events_timeout_seconds: float = Field(10, gt=0)
    webhook_events_max_attempts: int = Field(12, ge=1)
    # Lifecycle worker: outbox polling, Telegram's rate limits, leader election.
    outbox_poll_seconds: float = Field(1.0, gt=0)
    notice_max_attempts: int = Field(5, ge=1)
    telegram_rate_per_second: float = Field(30, gt=0)
    telegram_chat_interval_seconds: float = Field(1.0, ge=0)
    leader_retry_seconds: float = Field(5, gt=0)
    log_level: str = "INFO"
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
