"""Service configuration from the environment and ``.env`` (the only reader of either)."""

from typing import Annotated
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

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> "Settings":
        if self.webhook_events_url and self.webhook_events_secret is None:
            raise ValueError("WEBHOOK_EVENTS_URL needs WEBHOOK_EVENTS_SECRET to sign the events")
        return self
