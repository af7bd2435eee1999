"""The notification outbox: written with the change, delivered once, within Telegram's
limits, retried on flood waits and failures, never to users who blocked the bot."""

import asyncio
import bisect
import itertools
import time
from datetime import timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from db.models import Notice, User
from domain import audit
from domain.context import Context, utcnow
from domain.keys import changes, issuing
from domain.notices import attempts, broadcasts, outbox
from domain.notices.delivery import STALE, DeliveryPolicy, deliver_notices
from domain.notices.ratelimit import RateLimiter
from tests.worker_fixtures import ADMIN_ACTOR, OWNER, FakeClock, FakeMessenger, new_key


def fast() -> RateLimiter:
    return RateLimiter(rate=10_000, chat_interval=0)


class RecordingLimiter(RateLimiter):
    """Remembers when each slot was granted, and to which chat."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.granted: list[tuple[int, float]] = []

    async def acquire(self, chat_id: int) -> float:
        moment = await super().acquire(chat_id)
        self.granted.append((chat_id, moment))
        return moment


async def kinds_queued(key_id: int) -> list[str]:
    return (
        await Notice.filter(key_id=key_id, channel=outbox.TELEGRAM)
        .order_by("id")
        .values_list("kind", flat=True)
    )


async def drain(ctx: Context, messenger: FakeMessenger, limiter: RateLimiter | None = None) -> int:
    limiter = limiter or fast()
    total = 0
    while sent := await deliver_notices(ctx, messenger, limiter):
        total += sent
    return total


async def test_changes_by_the_api_or_an_admin_are_notified_but_not_the_owners_own(
    ctx: Context, owner
) -> None:
    key = await new_key(ctx, days=10, traffic_limit=5_000)
    admin = "tg:999"
    await changes.extend_key(ctx, key_id=key.id, server="alpha", days=5, actor=admin)
    await changes.set_traffic_limit(
        ctx, key_id=key.id, server="alpha", traffic_limit=9_000, actor=ADMIN_ACTOR
    )
    await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=False, actor=admin)
    await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=True, actor=admin)
    await changes.rename_key(ctx, key_id=key.id, server="alpha", name="x", actor=ADMIN_ACTOR)
    new = await issuing.refresh_key(
        ctx, key_id=key.id, server="alpha", actor=audit.tg_actor(OWNER)
    )
    await changes.delete_key(ctx, key_id=new.id, server="alpha", actor=ADMIN_ACTOR)
    assert await kinds_queued(key.id) == [
        "key_created",
        "key_extended",
        "key_limit_changed",
        "key_disabled",
        "key_enabled",
    ]
    assert await kinds_queued(new.id) == ["key_deleted"]  # the refresh was the owner's own
    notice = await Notice.get(key_id=key.id, kind="key_limit_changed")
    assert notice.user_id == OWNER and notice.payload["traffic_limit"] == 9_000
    assert notice.payload["server"] == "alpha" and "access_url" not in notice.payload


async def test_a_notice_exists_only_if_its_change_was_committed(ctx: Context, owner) -> None:
    key = await new_key(ctx)
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await audit.record(ADMIN_ACTOR, "key.deleted", key=key)
            raise RuntimeError("the change failed after its audit event")
    assert await kinds_queued(key.id) == ["key_created"]


async def test_each_notice_is_delivered_once_even_with_two_deliverers(
    ctx: Context, owner, messenger: FakeMessenger
) -> None:
    key = await new_key(ctx)
    for days in range(1, 6):
        await changes.extend_key(ctx, key_id=key.id, server="alpha", days=days, actor="cli")
    await asyncio.gather(drain(ctx, messenger), drain(ctx, messenger))
    assert messenger.kinds() == ["key_created"] + ["key_extended"] * 5
    assert not await Notice.filter(sent_at=None).exists()
    assert await drain(ctx, messenger) == 0 and len(messenger.sent) == 6


async def test_a_thousand_notices_drain_within_the_rate_cap_without_duplicates(
    ctx: Context, db, messenger: FakeMessenger
) -> None:
    await User.bulk_create([User(id=1_000 + i, language_code="en") for i in range(1_000)])
    await Notice.bulk_create(
        Notice(
            channel=outbox.TELEGRAM,
            kind=outbox.BROADCAST,
            user_id=1_000 + i % 900,
            payload={"text": f"n{i}"},
            dedup_key=f"t:{i}",
        )
        for i in range(1_000)
    )
    # Telegram's limits with time shrunk tenfold: 30 per 0.1 s overall, one per 0.01 s per chat.
    scale = 10
    window = 1.0 / scale
    limiter = RecordingLimiter(rate=30 * scale, chat_interval=window, period=window)
    started = time.monotonic()
    assert await drain(ctx, messenger, limiter) == 1_000
    elapsed = time.monotonic() - started
    texts = [s.payload["text"] for s in messenger.sent]
    assert sorted(texts) == sorted(f"n{i}" for i in range(1_000))  # each exactly once
    stamps = sorted(moment for _, moment in limiter.granted)
    assert len(stamps) == 1_000
    busiest = max(bisect.bisect_left(stamps, t + window) - i for i, t in enumerate(stamps))
    assert busiest <= 30
    per_chat: dict[int, list[float]] = {}
    for chat, moment in limiter.granted:
        per_chat.setdefault(chat, []).append(moment)
    gaps = [b - a for times in per_chat.values() for a, b in itertools.pairwise(sorted(times))]
    assert len(gaps) == 100 and min(gaps) >= window
    print(f"drained 1000 notices in {elapsed:.2f}s: {1000 / elapsed / scale:.1f}/s at full scale")


async def test_the_limiter_keeps_telegrams_pace_on_a_fake_clock() -> None:
    now = [0.0]

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    limiter = RateLimiter(30, 1.0, clock=lambda: now[0], sleep=sleep)
    stamps = []
    for i in range(1_000):
        await limiter.acquire(i % 600)
        stamps.append(now[0])
    assert max(sum(1 for t in stamps if s <= t < s + 1) for s in stamps) == 30
    assert stamps[-1] == 999 // 30
    chat_7 = [t for i, t in enumerate(stamps) if i % 600 == 7]
    assert chat_7[1] - chat_7[0] >= 1
    limiter.pause(5)
    await limiter.acquire(7)
    assert now[0] == pytest.approx(stamps[-1] + 5)


async def test_a_user_who_blocked_the_bot_gets_no_further_attempts(
    ctx: Context, owner, messenger: FakeMessenger
) -> None:
    other = await User.create(id=200)
    key = await new_key(ctx)
    await changes.extend_key(ctx, key_id=key.id, server="alpha", days=1, actor=ADMIN_ACTOR)
    await new_key(ctx, tg_id=other.id)
    messenger.blocked.add(OWNER)
    await drain(ctx, messenger)
    assert messenger.attempts.count(OWNER) == 1
    assert messenger.kinds() == ["key_created"] and messenger.sent[0].user_id == 200
    assert (await User.get(id=OWNER)).bot_blocked_at is not None
    assert await Notice.filter(user_id=OWNER, failed_at__isnull=False).count() == 2
    # Later notices to them are given up without a call.
    await changes.extend_key(ctx, key_id=key.id, server="alpha", days=1, actor=ADMIN_ACTOR)
    await drain(ctx, messenger)
    assert messenger.attempts.count(OWNER) == 1
    assert await Notice.filter(user_id=OWNER, failed_at__isnull=False).count() == 3


async def test_a_flood_wait_is_retried_after_the_wait_without_counting_an_attempt(
    ctx: Context, clock: FakeClock, owner, messenger: FakeMessenger
) -> None:
    await new_key(ctx)

    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)

    limiter = RateLimiter(clock=clock.time, sleep=sleep)
    messenger.flood[OWNER] = 30
    assert await drain(ctx, messenger, limiter) == 0
    notice = await Notice.get(user_id=OWNER)
    assert notice.attempts == 0 and notice.next_attempt_at == clock.now() + timedelta(seconds=30)
    clock.advance(seconds=29)
    assert await drain(ctx, messenger, limiter) == 0
    clock.advance(seconds=2)
    assert await drain(ctx, messenger, limiter) == 1
    await notice.refresh_from_db()
    assert notice.sent_at is not None and notice.attempts == 1


async def test_failures_back_off_and_end_in_failed_at_after_the_last_attempt(
    ctx: Context, clock: FakeClock, owner, messenger: FakeMessenger
) -> None:
    await new_key(ctx)
    messenger.failing.add(OWNER)
    policy = DeliveryPolicy(max_attempts=3, retry_base=10, retry_cap=15)
    waits = []
    for _ in range(3):
        await deliver_notices(ctx, messenger, fast(), policy)
        notice = await Notice.get(user_id=OWNER)
        if notice.next_attempt_at is not None:
            waits.append((notice.next_attempt_at - clock.now()).total_seconds())
        clock.advance(minutes=1)
    assert waits == [10, 15]
    assert notice.failed_at is not None and notice.attempts == 3
    assert "bad day" in (notice.last_error or "")
    await deliver_notices(ctx, messenger, fast(), policy)
    assert len(messenger.attempts) == 3


async def test_a_broadcast_reaches_every_reachable_user_and_reports_progress(
    ctx: Context, db, messenger: FakeMessenger
) -> None:
    await User.bulk_create([User(id=i) for i in range(1, 6)])
    await User.filter(id=5).update(bot_blocked_at=ctx.now())
    broadcast = await broadcasts.enqueue_broadcast("  Server maintenance tonight  ", actor="tg:1")
    assert await broadcasts.broadcast_progress(broadcast) == (0, 0, 4)
    messenger.blocked.add(3)
    await drain(ctx, messenger)
    assert await broadcasts.broadcast_progress(broadcast) == (3, 1, 0)
    assert {s.user_id for s in messenger.sent} == {1, 2, 4}
    assert {s.payload["text"] for s in messenger.sent} == {"Server maintenance tonight"}
    assert all(s.kind == "broadcast" for s in messenger.sent)


async def test_a_notice_too_old_to_matter_is_dropped_unsent(
    ctx: Context, owner, messenger: FakeMessenger
) -> None:
    await new_key(ctx)
    await Notice.all().update(created_at=utcnow() - timedelta(days=3))
    assert await drain(ctx, messenger) == 0 and messenger.attempts == []
    notice = await Notice.get(user_id=OWNER)
    assert notice.failed_at is not None and notice.last_error == STALE


async def test_delivered_and_abandoned_rows_are_forgotten_after_a_while(
    ctx: Context, owner, messenger: FakeMessenger
) -> None:
    key = await new_key(ctx)
    await drain(ctx, messenger)
    await changes.extend_key(ctx, key_id=key.id, server="alpha", days=1, actor=ADMIN_ACTOR)
    messenger.flood[OWNER] = 60
    await drain(ctx, messenger)  # one sent, the other waiting
    assert await attempts.forget_finished(ctx.now() + timedelta(minutes=1)) == 1
    assert await Notice.filter(user_id=OWNER).count() == 1
