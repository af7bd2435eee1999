"""Expiry reminders: the owner hears three days and one day before a key runs out.

A reminder names the time really left (a key issued for two days hears "in 2 days" at
once, one for 25 seconds "in less than a minute"), computed when it is read, not when it
was queued: ``time_left`` splits that span for the texts.
"""

from dataclasses import dataclass
from datetime import timedelta

from db.models import KeyState, Notice, VPNKey
from domain.context import Context
from domain.notices import outbox

REMINDERS = ((outbox.EXPIRES_1D, timedelta(days=1)), (outbox.EXPIRES_3D, timedelta(days=3)))


@dataclass(frozen=True, slots=True)
class TimeLeft:
    """A span in whole days, hours and minutes (each rounded down)."""

    days: int
    hours: int
    minutes: int


def time_left(span: timedelta) -> TimeLeft | None:
    """``span`` split into days, hours and minutes; ``None`` under a minute (or past)."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 1:
        return None
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    return TimeLeft(days, hours, minutes)


def _reminder_for(left: timedelta) -> str | None:
    """The reminder due with ``left`` time to go (the nearest one only)."""
    for kind, ahead in REMINDERS:
        if left <= ahead:
            return kind
    return None


async def send_reminders(ctx: Context) -> int:
    """Queue the reminders now due; each (key, kind, expiry date) once. Returns how many."""
    now = ctx.now()
    keys = await VPNKey.filter(
        state=KeyState.LIVE,
        is_active=True,
        owner_id__isnull=False,
        valid_until__gt=now,
        valid_until__lte=now + REMINDERS[-1][1],
    ).select_related("server")
    wanted: dict[str, Notice | None] = {}
    for key in keys:
        assert key.valid_until is not None
        kind = _reminder_for(key.valid_until - now)
        if kind is None:
            continue
        dedup = f"tg:{kind}:{key.id}:{int(key.valid_until.timestamp())}"
        wanted[dedup] = outbox.telegram_notice(kind, key, key.server.name, dedup_key=dedup)
    if not wanted:
        return 0
    queued = set(
        await Notice.filter(dedup_key__in=list(wanted)).values_list("dedup_key", flat=True)
    )
    fresh = [notice for dedup, notice in wanted.items() if dedup not in queued]
    await outbox.enqueue(fresh)
    return len(fresh)
