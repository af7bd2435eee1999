"""Traffic reset periods: a key on the ``monthly`` strategy starts each month with 0 used."""

import calendar
import logging
from datetime import datetime, timedelta
from typing import Any

from db.models import KeyState, TrafficReset, VPNKey
from domain import audit
from domain.context import Context
from domain.errors import DomainError, Invalid
from domain.keys.changes import change_key
from domain.redact import describe

logger = logging.getLogger(__name__)
NEW_PERIOD = "key.period_started"


def add_month(moment: datetime) -> datetime:
    """The same day and time a calendar month later (the last day if the month is shorter)."""
    year, month = moment.year + moment.month // 12, moment.month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def current_period_start(started: datetime, now: datetime) -> datetime:
    """The start of the period ``now`` falls in, for periods begun at ``started``."""
    while add_month(started) <= now:
        started = add_month(started)
    return started


async def set_traffic_reset(
    ctx: Context, *, key_id: int, server: str | None, strategy: str, actor: str
) -> VPNKey:
    """Choose when the key's allowance starts over: ``no_reset`` or ``monthly`` (from now)."""
    try:
        reset = TrafficReset(strategy)
    except ValueError:
        allowed = ", ".join(r.value for r in TrafficReset)
        raise Invalid(f"traffic reset must be one of {allowed}", field="traffic_reset") from None

    def change(key: VPNKey) -> dict[str, Any]:
        key.traffic_reset = reset
        key.period_started_at = ctx.now() if reset == TrafficReset.MONTHLY else None
        return {"traffic_reset": reset.value}

    return await change_key(ctx, key_id, server, change, actor=actor, action="key.reset_changed")


async def start_new_periods(ctx: Context) -> int:
    """Zero the usage of monthly keys whose period ended (re-opening keys cut for traffic)."""
    now = ctx.now()
    due = await VPNKey.filter(
        state=KeyState.LIVE,
        traffic_reset=TrafficReset.MONTHLY,
        period_started_at__lte=now - timedelta(days=28),
    ).values_list("id", "period_started_at")
    started = 0
    for key_id, began in due:
        period = current_period_start(began, now)
        if period == began:
            continue

        def change(key: VPNKey, period: datetime = period) -> dict[str, Any]:
            details = {"traffic_used": key.traffic_used, "period_started_at": period.isoformat()}
            key.traffic_used, key.period_started_at = 0, period
            return details

        try:
            await change_key(ctx, key_id, None, change, actor=audit.WORKER, action=NEW_PERIOD)
        except DomainError as exc:
            logger.warning("new period of key %s postponed: %s", key_id, describe(exc))
            continue
        started += 1
    return started
