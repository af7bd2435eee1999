"""The collaborators every domain operation receives: VPN clients, clock and tunables."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from domain.links.signing import LinkSigner
from domain.settings import GIB, Settings
from vpn.backends import Backend, ServerConfig


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class BackendProvider(Protocol):
    """Anything that hands out a client for a server (``vpn.pool.BackendPool``)."""

    def get(self, config: ServerConfig) -> Backend: ...


@dataclass
class Context:
    """Explicit dependencies of the domain layer, built once by the composition root."""

    pool: BackendProvider
    demo_days: int = 7
    demo_traffic_bytes: int = GIB
    clock: Callable[[], datetime] = field(default=utcnow)
    # How the domain waits for the clock to move (tests on a fake clock move it instead).
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    # A ``creating`` key younger than this may still be in flight; the reconciler leaves it.
    stale_after: timedelta = timedelta(minutes=2)
    # Signs dynamic links; ``None`` when the installation has no ``PUBLIC_URL``.
    links: LinkSigner | None = None
    # How often the servers' Prometheus scrapes usage (0: servers report exact counts), and
    # how long a scrape may take to land (the ledger keeps clear of that moment).
    scrape_seconds: float = 60.0
    scrape_settle_seconds: float = 1.0
    # Days a referrer gets when a user they invited pays for the first time (0: none).
    referral_bonus_days: int = 7

    @classmethod
    def from_settings(cls, settings: Settings, pool: BackendProvider) -> "Context":
        """A context with the tunables of ``settings``."""
        links = None
        if settings.public_url and settings.link_secret is not None:
            secret = settings.link_secret.get_secret_value().encode()
            links = LinkSigner(settings.public_url, secret)
        return cls(
            pool=pool,
            demo_days=settings.demo_days,
            demo_traffic_bytes=settings.demo_traffic_bytes,
            stale_after=timedelta(seconds=max(60.0, 3 * settings.outline_timeout_seconds)),
            links=links,
            scrape_seconds=settings.outline_scrape_seconds,
            referral_bonus_days=settings.referral_bonus_days,
        )

    def now(self) -> datetime:
        """The current time according to this context's clock."""
        return self.clock()
