"""Delivering queued Telegram notices through the ``Messenger``, within Telegram's limits."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from db.models import Notice
from domain.accounts import users
from domain.context import Context, utcnow
from domain.notices import attempts, outbox
from domain.notices.messenger import Messenger, RecipientBlocked, RetryLater
from domain.notices.ratelimit import RateLimiter
from domain.redact import describe

logger = logging.getLogger(__name__)
BLOCKED = "recipient blocked the bot"
STALE = "too old to be worth sending"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try: attempts, backoff, batch size, the lease on a row being sent, and
    the age after which a notice is dropped (a reminder a week late only confuses)."""

    max_attempts: int = 5
    retry_base: float = 30.0
    retry_cap: float = 3600.0
    batch: int = 100
    lease: float = 120.0
    max_age: timedelta = timedelta(days=2)


async def deliver_notices(
    ctx: Context,
    messenger: Messenger,
    limiter: RateLimiter,
    policy: DeliveryPolicy = DeliveryPolicy(),
) -> int:
    """Send one batch of due notices (at most one per user); returns how many were sent."""
    now = ctx.now()
    # ``created_at`` is stamped by the database's clock, so it is compared with the wall clock.
    too_old = utcnow() - policy.max_age
    await Notice.filter(attempts.due(now), channel=outbox.TELEGRAM, created_at__lt=too_old).update(
        failed_at=now, next_attempt_at=None, last_error=STALE
    )
    batch = await attempts.claim(await _next_batch(now, policy.batch), now, policy.lease)
    sent = await asyncio.gather(*(_send(ctx, messenger, limiter, n, policy) for n in batch))
    return sum(sent)


async def _next_batch(now: datetime, size: int) -> list[Notice]:
    """Due notices, oldest first, one per user; rows for blocked users are given up."""
    rows = (
        await Notice.filter(attempts.due(now), channel=outbox.TELEGRAM, user_id__isnull=False)
        .select_related("user")
        .order_by("id")
        .limit(size * 4)
    )
    batch: dict[int, Notice] = {}
    blocked: set[int] = set()
    for notice in rows:
        if notice.user.bot_blocked_at is not None:
            blocked.add(notice.user_id)
        elif notice.user_id not in batch and len(batch) < size:
            batch[notice.user_id] = notice
    for user_id in blocked:
        await _give_up_on(user_id, now)
    return list(batch.values())


async def _give_up_on(user_id: int | None, now: datetime) -> None:
    await Notice.filter(
        user_id=user_id, channel=outbox.TELEGRAM, sent_at=None, failed_at=None
    ).update(failed_at=now, next_attempt_at=None, last_error=BLOCKED)


async def _send(
    ctx: Context,
    messenger: Messenger,
    limiter: RateLimiter,
    notice: Notice,
    policy: DeliveryPolicy,
) -> bool:
    user = notice.user
    await limiter.acquire(user.id)
    try:
        await messenger.send_notice(
            user_id=user.id, language=user.language_code, kind=notice.kind, payload=notice.payload
        )
    except RecipientBlocked:
        logger.info("notice %s: user %s blocked the bot; not messaging them", notice.id, user.id)
        await users.set_bot_blocked(user.id, True)
        await _give_up_on(user.id, ctx.now())
        return False
    except RetryLater as exc:
        limiter.pause(exc.seconds)
        until = ctx.now() + timedelta(seconds=exc.seconds)
        await attempts.postpone(notice, until, describe(exc))
        return False
    except Exception as exc:  # any other failure of the messenger: retry, then give up
        await attempts.record_failure(
            notice,
            ctx.now(),
            exc,
            max_attempts=policy.max_attempts,
            base=policy.retry_base,
            cap=policy.retry_cap,
        )
        return False
    await attempts.mark_sent(notice, ctx.now())
    return True
