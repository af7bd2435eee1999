"""The traffic ledger: each key's whole-life usage, from the servers' rolling counters.

Every sync reads a server's 30-day counters (and, where the server can say, the exact
bytes moved since the last sync), adds each key's new bytes to ``traffic_used`` and keeps
the counter as ``usage_baseline``. New bytes from counters alone are

    counted = counter - baseline + aged

where ``aged`` is what left the 30-day window since the last sync, looked up in the
ledger's own hourly history (``domain.traffic.history``). A drop no ageing explains means the
server lost its counters: everything it reports now is new. A server that could not be
reached is simply sampled over a longer interval next time.
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from db.models import VPNServer
from domain.concurrency import bounded
from domain.context import Context
from domain.errors import DomainError
from domain.keys import remote
from domain.keys.enforcement import enforce_many
from domain.keys.rules import settle
from domain.redact import describe
from domain.servers import registry
from domain.traffic import booking, history
from domain.traffic import schedule as schedules
from domain.traffic.periods import start_new_periods
from domain.traffic.rows import KeyRow, live_rows
from domain.traffic.sampling import Sample, counters_were_lost, from_counters, from_since
from domain.traffic.scraped import KeyView, read_usage
from vpn.backends import Backend

logger = logging.getLogger(__name__)
# Keys booked per transaction; servers synced at once.
CHUNK = 4000
SERVERS_AT_ONCE = 4


@dataclass
class SyncReport:
    """What one server's sync found and did."""

    server: str
    method: str = "counters"  # "since" when the server's per-interval metrics were used
    counted: int = 0
    keys: int = 0
    counters_reset: bool = False
    transitions: dict[int, str] = field(default_factory=dict)
    error: str | None = None


async def sync_traffic(ctx: Context) -> list[SyncReport]:
    """Start due reset periods, then sample every active server; failures are reported.

    Servers are synced a few at once (each touches only its own keys), so one server's
    answer is awaited while another's keys are being booked."""
    await start_new_periods(ctx)
    servers = await registry.list_servers(active_only=True)
    return await bounded(servers, lambda srv: _sync_reported(ctx, srv), SERVERS_AT_ONCE)


async def _sync_reported(ctx: Context, srv: VPNServer) -> SyncReport:
    report = SyncReport(srv.name)
    try:
        await sync_server(ctx, srv, report)
    except DomainError as exc:
        report.error = exc.message
        schedules.view(srv).failed = True
        logger.warning("traffic sync of %s postponed: %s", srv.name, describe(exc))
    return report


async def sync_server(ctx: Context, srv: VPNServer, report: SyncReport) -> None:
    """Sample one server and book every live key's new usage; then apply the quota."""
    now = ctx.now()
    client = remote.backend(ctx, srv)
    usage, rows = remote.call(srv, client.usage()), live_rows(srv.id)
    if ctx.scrape_seconds > 0:
        counters, keys = await _together(usage, rows)
        if await _sync_scraped(ctx, srv, client, keys, counters, report):
            return
        since, until = await _usage_since(srv, client, now)
    else:  # exact counts: the window is asked for at once too
        counters, keys, (since, until) = await _together(
            usage, rows, _usage_since(srv, client, now)
        )
    if since is not None:
        report.method = "since"
        samples = from_since(keys, counters, since)
    else:
        aged: dict[int, int] = {}
        if srv.last_synced_at is not None:
            window = history.WINDOW
            aged = await history.aged(srv.id, srv.last_synced_at - window, now - window)
        report.counters_reset = counters_were_lost(keys, counters, now)
        samples = from_counters(keys, counters, aged, reset=report.counters_reset)
        if report.counters_reset:
            logger.warning("traffic sync of %s: the server lost its counters", srv.name)
            # What the history holds is no longer in the server's window: none of it can age.
            await history.forget_before(srv.id, now + history.HOUR)
    booked = await _book(srv, samples, srv.last_synced_at, until, report)
    await VPNServer.filter(id=srv.id).update(last_synced_at=until)
    await history.forget_before(srv.id, until - history.KEEP)
    await _enforce(ctx, booked, report)


async def _together(*steps: Awaitable[Any]) -> list[Any]:
    """Await ``steps`` at once (the server's answers and the database's rows); the first
    failure cancels the others and is raised."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        return [await task for task in tasks]
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
            elif not task.cancelled():
                task.exception()  # a second failure is not reported as never retrieved


async def _sync_scraped(
    ctx: Context,
    srv: VPNServer,
    client: Backend,
    keys: list[KeyRow],
    counters: dict[str, int],
    report: SyncReport,
) -> bool:
    """Book from Prometheus-scraped metrics (``domain.traffic.scraped``); ``False`` when the
    server cannot give them, so the 30-day counters must do."""
    if not schedules.view(srv).trusted(ctx.now().timestamp()):
        report.method = "scrapes"
        return True  # nothing is booked (or re-based) until the cache is known to be ours
    views = [KeyView(k.remote_id, k.usage_baseline, k.created_at) for k in keys]
    reading = await read_usage(ctx, srv, client, views, counters, anchor=srv.last_synced_at)
    if reading is None:
        return False
    report.method, report.counters_reset = "scrapes", reading.lost
    samples = [
        Sample(k, round(reading.counted.get(k.remote_id, 0)), reading.counters.get(k.remote_id, 0))
        for k in keys
    ]
    through = reading.through or srv.last_synced_at or ctx.now()
    booked = await _book(srv, samples, srv.last_synced_at, through, report)
    if reading.through is not None:
        await VPNServer.filter(id=srv.id).update(last_synced_at=reading.through)
        await history.forget_before(srv.id, reading.through - history.KEEP)
    await _enforce(ctx, booked, report)
    return True


async def _usage_since(
    srv: VPNServer, client: Backend, now: datetime
) -> tuple[dict[str, int] | None, datetime]:
    """Exact bytes per key since the last sync, and the moment that window ends."""
    if srv.last_synced_at is None:
        return None, now
    seconds = int((now - srv.last_synced_at).total_seconds())
    if seconds < 1:
        return None, now
    # A failure postpones the sync (falling back to the counters would book their error).
    usage = await remote.call(srv, client.usage_since(seconds))
    if usage is None:
        return None, now
    # Windows of whole seconds laid end to end: nothing counted twice, nothing skipped.
    return usage, srv.last_synced_at + timedelta(seconds=seconds)


async def _book(
    srv: VPNServer,
    samples: list[Sample],
    previous: datetime | None,
    until: datetime,
    report: SyncReport,
) -> list[tuple[KeyRow, int | None]]:
    """Write each key's new usage and baseline; returns (key, server limit before) pairs."""
    limits = [(s.key, remote.server_limit(s.key)) for s in samples]
    changed = [s for s in samples if s.counted or s.baseline != s.key.usage_baseline]
    hours = None
    if report.method == "counters":  # the only syncs that read the history
        spread = history.spreading(until)

        def hours(sample: Sample) -> history.Spread:
            created = sample.key.created_at
            return spread(
                sample.counted, created if previous is None or previous < created else previous
            )

    written: set[int] = set()
    for start in range(0, len(changed), CHUNK):
        written |= await booking.write(srv, changed[start : start + CHUNK], hours)
    done = [s.counted for s in changed if s.key.id in written]
    report.counted += sum(done)
    report.keys += len(done) - done.count(0)
    # A key changed meanwhile (refreshed, deleted…) is skipped: it is sampled again next time.
    skipped = {s.key.id for s in changed}.difference(written)
    return [pair for pair in limits if pair[0].id not in skipped] if skipped else limits


async def _enforce(
    ctx: Context, booked: list[tuple[KeyRow, int | None]], report: SyncReport
) -> None:
    """Cut keys that reached their quota (and re-push limits the new baseline moved)."""
    now = ctx.now()
    due = {key.id: before for key, before in booked if _due(key, before, now)}
    if due:
        report.transitions |= await enforce_many(ctx, due)


def _due(key: KeyRow, limit_before: int | None, now: datetime) -> bool:
    """Whether the key's rules or its server limit need changing on the server."""
    if settle(key, now) is not None:
        return True
    limit = remote.server_limit(key)
    if limit == limit_before:
        return False
    if limit is None or limit_before is None or not limit or not limit_before:
        return True
    # The 30-day figure the server limit is relative to wobbles with Prometheus's
    # extrapolation; a drift under 1 % of the allowance is not worth a call per key.
    return abs(limit - limit_before) > (key.traffic_limit or 0) // 100
