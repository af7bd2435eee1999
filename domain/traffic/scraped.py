"""New usage per key from a server whose metrics come from Prometheus scrapes (real Outline).

One reading: the scrape schedule (learned once), the latest scrape before now, two windows
from before the anchor (the last scrape already booked) and the 30-day figures. Keys
the anchor already knew get the exact increase since it; keys new since then get what their
30-day figure says without its end extrapolation (``domain.traffic.scrapes``).
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from db.models import VPNServer
from domain.context import Context
from domain.keys import remote
from domain.traffic import schedule as schedules
from domain.traffic.history import SKEW, WINDOW
from domain.traffic.scrapes import (
    FAR_MARGIN,
    MARGIN,
    Answers,
    Schedule,
    chained,
    first_counted,
    window_choices,
)
from vpn.backends import Backend

# A young key whose 30-day figure falls below this share of the last one lost its samples
# (a wiped metrics store); extrapolation alone never takes a figure below a third.
LOST_SHARE = 0.25
# A new key whose 30-day figure is below this share of the window's was sampled before the
# window began: a series born inside it gives both the same extrapolation.
ALIVE_SHARE = 0.99
# How far back the very first reading looks for traffic to learn the scrape schedule from.
FIRST_REACH = 86400.0


@dataclass(frozen=True, slots=True)
class KeyView:
    """What the reading needs of a key."""

    remote_id: str
    baseline: int
    created_at: datetime


@dataclass
class Reading:
    """Bytes per remote id not yet booked, the scrape they were counted through, and the
    30-day figures they were counted with (read again after waiting for a scrape)."""

    counters: dict[str, int]
    counted: dict[str, float] = field(default_factory=dict)
    through: datetime | None = None
    lost: bool = False


def _moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


async def _schedule(
    ctx: Context, srv: VPNServer, client: Backend, now: float, anchor: float | None
) -> Schedule | None:
    seen = schedules.view(srv)
    interval = ctx.scrape_seconds
    if seen.schedule is not None and now - seen.learned_at < schedules.RELEARN_AFTER:
        return seen.schedule
    reach = (now - anchor if anchor is not None else FIRST_REACH) + 3 * interval
    found = await schedules.learn(
        srv, client, lambda: ctx.now().timestamp(), interval=interval, reach=reach
    )
    return found or seen.schedule


async def _settle(ctx: Context, plan: Schedule, now: float) -> float:
    """Keep clear of a scrape that may be in flight (or not yet where we think it is)."""
    nearest = plan.last(now + plan.interval / 2)
    zone = 0.5 + ctx.scrape_settle_seconds
    if abs(now - nearest) < zone:
        await ctx.sleep(nearest + zone - now)
        now = ctx.now().timestamp()
    return now


def was_lost(keys: list[KeyView], counters: dict[str, int], now: datetime) -> bool:
    """Whether the metrics store lost its samples: a key too young for anything of it to
    have aged shows far less than at the last sync."""
    young = now - WINDOW + SKEW
    return any(
        k.created_at > young and counters.get(k.remote_id, 0) < LOST_SHARE * k.baseline
        for k in keys
    )


async def read_usage(
    ctx: Context,
    srv: VPNServer,
    client: Backend,
    keys: list[KeyView],
    counters: dict[str, int],
    *,
    anchor: datetime | None,
) -> Reading | None:
    """Bytes not yet booked per key since ``anchor``; ``None`` when the server cannot say
    (no per-interval metrics, or ids Outline cannot report)."""
    now = ctx.now().timestamp()
    since = anchor.timestamp() if anchor is not None else None
    try:
        plan = await _schedule(ctx, srv, client, now, since)
    except schedules.NotReported:
        return None
    if plan is None:
        return Reading(counters)  # nobody moved a byte between two scrapes since the anchor
    settled = await _settle(ctx, plan, now)
    if settled != now:  # the scrape waited for may be missing from the 30-day figures
        counters = await remote.call(srv, client.usage())
    now = settled
    latest, seen = plan.last(now), schedules.view(srv)
    if seen.failed:
        seen.failed, seen.recovered_at = False, now
    if latest <= seen.recovered_at:
        return Reading(counters)  # the scrapes missed while it was down may include it
    first = since is None or abs(plan.last(since + plan.interval / 2) - since) > 1
    if first:
        # No anchor yet (or a new schedule): keys the ledger booked before wait for the
        # next reading; keys new to the ledger are counted whole.
        since = latest - 2 * plan.interval
    intervals = plan.between(since, latest)
    if intervals <= 0:
        return Reading(counters)
    near = seen.fresh(window_choices(now, since, plan.interval, MARGIN), now)
    far = seen.fresh(window_choices(now, since, plan.interval, FAR_MARGIN), now)
    if near is None or far is None:
        return Reading(counters)
    windows = (min(near, far), max(near, far))
    shorter = await remote.call(srv, client.usage_since(windows[0]))
    longer = await remote.call(srv, client.usage_since(windows[1]))
    if shorter is None or longer is None:
        return None
    lost = was_lost(keys, counters, ctx.now())
    span, after_scrape = intervals * plan.interval, now - latest
    counted = {}
    for key in keys:
        answers = Answers(
            max(0.0, shorter.get(key.remote_id, 0)), max(0.0, longer.get(key.remote_id, 0))
        )
        if key.baseline > 0 and not lost:
            if answers.near and not first:
                counted[key.remote_id] = chained(
                    answers, windows, span, after_scrape, key.baseline
                )
        elif counters.get(key.remote_id):
            counter = counters[key.remote_id]
            if counter < ALIVE_SHARE * answers.near:
                # Sampled all through the window (born before the anchor, idle until now):
                # the window is exact; what it moved before its first scrape is not known.
                counted[key.remote_id] = chained(answers, windows, span, after_scrape, 0)
            else:
                counted[key.remote_id] = first_counted(
                    counter, answers.near, windows[0], after_scrape
                )
    return Reading(counters, counted, _moment(latest), lost)
