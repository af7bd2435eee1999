"""Fixtures for lifecycle worker tests: one clock for the service and the emulator, a
recording messenger, a key owner, and a wait-until helper."""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.models import User, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.keys import issuing
from domain.notices import outbox
from domain.notices.messenger import RecipientBlocked, RetryLater
from vpn.emulator import RunningEmulator

OWNER = 100
ADMIN_ACTOR = "api:billing"


class FakeClock:
    """A settable clock read by both the domain (``now``) and the emulator (``time``)."""

    def __init__(self, start: datetime) -> None:
        self.moment = start

    def now(self) -> datetime:
        return self.moment

    def time(self) -> float:
        return self.moment.timestamp()

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once (for ``Context.sleep``)."""
        self.advance(seconds=seconds)


@pytest.fixture
def clock(ctx: Context, outline_server: RunningEmulator) -> FakeClock:
    """Time under the test's control, starting on an hour boundary after every row's
    ``created_at`` (which the database stamps with the real time)."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    fake = FakeClock(start)
    ctx.clock = fake.now
    outline_server.emulator.clock = fake.time
    return fake


@dataclass
class Sent:
    """One call the messenger received."""

    user_id: int
    kind: str
    payload: dict[str, Any]
    language: str | None
    at: float


@dataclass
class FakeMessenger:
    """Records every notice; users can be made to block the bot, flood-wait or fail."""

    blocked: set[int] = field(default_factory=set)
    flood: dict[int, float] = field(default_factory=dict)
    failing: set[int] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)
    attempts: list[int] = field(default_factory=list)

    async def send_notice(
        self, *, user_id: int, language: str | None, kind: str, payload: dict[str, Any]
    ) -> None:
        self.attempts.append(user_id)
        if user_id in self.blocked:
            raise RecipientBlocked("bot was blocked by the user")
        if user_id in self.flood:
            raise RetryLater(self.flood.pop(user_id))
        if user_id in self.failing:
            raise RuntimeError("telegram is having a bad day")
        self.sent.append(Sent(user_id, kind, payload, language, time.monotonic()))

    def kinds(self, user_id: int | None = None) -> list[str]:
        return [s.kind for s in self.sent if user_id is None or s.user_id == user_id]


@pytest.fixture
def messenger() -> FakeMessenger:
    return FakeMessenger()


@pytest.fixture
async def owner(server) -> User:
    """A user who owns the keys of the test, with Russian as their language."""
    profile = UserProfile(id=OWNER, username="owner", language_code="ru")
    return await users.upsert_user(profile, actor=ADMIN_ACTOR)


async def new_key(ctx: Context, **kwargs: Any) -> VPNKey:
    """A key on ``alpha`` for the owner, made through the API's domain call."""
    kwargs.setdefault("tg_id", OWNER)
    return await issuing.create_key(ctx, server="alpha", actor=ADMIN_ACTOR, **kwargs)


@pytest.fixture
def webhooks_enabled() -> Iterator[None]:
    """Audit events also queue outgoing webhooks (as ``run_worker`` sets when configured)."""
    outbox.configure(webhooks=True)
    yield
    outbox.configure(webhooks=False)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 10.0, every: float = 0.02
) -> None:
    """Wait until ``check()`` holds; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(every)
