"""Bookkeeping of delivery attempts on outbox rows: claim, sent, retry with backoff, give up."""

import logging
import random
from datetime import datetime, timedelta

from tortoise.expressions import F, Q

from db.models import Notice
from domain.redact import describe

logger = logging.getLogger(__name__)


def due(now: datetime) -> Q:
    """Rows waiting for delivery whose next attempt time has come."""
    waiting = Q(sent_at=None, failed_at=None)
    return waiting & (Q(next_attempt_at=None) | Q(next_attempt_at__lte=now))


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before retry number ``attempts`` (exponential, capped)."""
    return min(cap, base * 2 ** max(0, attempts - 1))


async def claim(notices: list[Notice], now: datetime, lease: float) -> list[Notice]:
    """The subset of ``notices`` this process now holds for ``lease`` seconds.

    A lease is a future ``next_attempt_at``: another deliverer skips the row, and if this
    process dies mid-send the row becomes due again when the lease runs out.
    """
    if not notices:
        return []
    # The jitter makes two deliverers' leases distinguishable.
    until = now + timedelta(seconds=lease, microseconds=random.randrange(1, 1_000_000))
    ids = [n.id for n in notices]
    await Notice.filter(due(now), id__in=ids).update(next_attempt_at=until)
    held = set(await Notice.filter(id__in=ids, next_attempt_at=until).values_list("id", flat=True))
    return [n for n in notices if n.id in held]


async def forget_finished(before: datetime) -> int:
    """Delete rows delivered or given up before ``before`` (the outbox is not an archive)."""
    finished = Q(sent_at__lt=before) | Q(failed_at__lt=before)
    return await Notice.filter(finished).delete()


async def mark_sent(notice: Notice, now: datetime) -> None:
    """Record a successful delivery."""
    await Notice.filter(id=notice.id).update(
        sent_at=now, attempts=F("attempts") + 1, next_attempt_at=None, last_error=None
    )


async def postpone(notice: Notice, until: datetime, error: str) -> None:
    """Try again at ``until`` without counting an attempt (flood control, not a failure)."""
    await Notice.filter(id=notice.id).update(next_attempt_at=until, last_error=error[:256])


async def record_failure(
    notice: Notice, now: datetime, exc: Exception, *, max_attempts: int, base: float, cap: float
) -> bool:
    """Count and log a failed attempt; retry later with backoff, or give up (``True``)."""
    error = describe(exc)
    attempts = notice.attempts + 1
    notice.attempts = attempts
    gave_up = attempts >= max_attempts
    logger.warning(
        "%s %s (%s) attempt %s failed%s: %s",
        notice.channel,
        notice.id,
        notice.kind,
        attempts,
        " (giving up)" if gave_up else "",
        error,
    )
    if gave_up:
        await Notice.filter(id=notice.id).update(
            attempts=attempts, failed_at=now, next_attempt_at=None, last_error=error[:256]
        )
        return True
    retry_at = now + timedelta(seconds=backoff(attempts, base=base, cap=cap))
    await Notice.filter(id=notice.id).update(
        attempts=attempts, next_attempt_at=retry_at, last_error=error[:256]
    )
    return False
