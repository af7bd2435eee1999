"""The health watch: each active server's reachability, kept in the database, one alert to
the admins when a server goes down and one when it comes back, and optional failover.

A server is down after ``DOWN_AFTER`` failed checks in a row (one lost answer is not an
outage) and up again at the first answer. Each transition is a conditional update, so of
several processes only one records it and alerts.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import DomainError
from domain.notices.outbox import iso
from domain.servers import alerts, registry
from domain.servers.drain import DrainReport, drain_server, tell_admins

logger = logging.getLogger(__name__)
DOWN_AFTER = 2


@dataclass(frozen=True, slots=True)
class Transition:
    """A server that went down or came back in this round."""

    server: str
    reachable: bool
    at: datetime


async def watch_servers(ctx: Context, admins: frozenset[int]) -> list[Transition]:
    """Check every active server once and record what changed."""
    servers = await registry.list_servers(active_only=True)
    checks = await asyncio.gather(*(registry.check_health(ctx, s) for s in servers))
    changes = []
    for server, health in zip(servers, checks, strict=True):
        change = await record_check(ctx, server, health.reachable, admins)
        if change is not None:
            changes.append(change)
    return changes


async def record_check(
    ctx: Context, server: VPNServer, reachable: bool, admins: frozenset[int]
) -> Transition | None:
    """Store one check's outcome; a transition is audited and alerted exactly once."""
    now = ctx.now()
    rows = VPNServer.filter(id=server.id)
    async with in_transaction():
        if reachable:
            came_back = await rows.filter(reachable=False).update(
                reachable=True, failed_checks=0, checked_at=now, up_since=now
            )
            if not came_back:
                await rows.update(failed_checks=0, checked_at=now)
                return None
            fresh = await VPNServer.get(id=server.id)
            down_for = (now - fresh.down_since).total_seconds() if fresh.down_since else 0.0
            payload = {"server": server.name, "since": iso(fresh.down_since), "down_for": down_for}
            await _transition(server, alerts.SERVER_UP, payload, now, admins)
            return Transition(server.name, True, now)
        await rows.update(failed_checks=F("failed_checks") + 1, checked_at=now)
        went_down = await rows.filter(reachable=True, failed_checks__gte=DOWN_AFTER).update(
            reachable=False, down_since=now
        )
        if not went_down:
            return None
        live = await VPNKey.filter(server_id=server.id, state=KeyState.LIVE).count()
        payload = {"server": server.name, "since": iso(now), "live_keys": live}
        await _transition(server, alerts.SERVER_DOWN, payload, now, admins)
        return Transition(server.name, False, now)


async def _transition(
    server: VPNServer, kind: str, payload: dict, now: datetime, admins: frozenset[int]
) -> None:
    action = "server.up" if kind == alerts.SERVER_UP else "server.down"
    await audit.record(audit.WORKER, action, details=payload)
    dedup = f"{kind}:{server.id}:{int(now.timestamp())}"
    await alerts.alert_admins(admins, kind, payload, dedup=dedup)
    logger.warning("server %s is %s", server.name, "back" if kind == alerts.SERVER_UP else "down")


async def fail_over(ctx: Context, admins: frozenset[int], after: timedelta) -> list[DrainReport]:
    """Move the keys of every server down for ``after`` or longer to healthy servers.

    The dead server is not called (its copies are orphans the reconciler deletes when it
    answers again) and stays enabled, so the watch notices when it is back.
    """
    if ctx.links is None:  # without dynamic links a moved key would reach nobody
        return []
    due = await VPNServer.filter(
        is_active=True, reachable=False, down_since__lte=ctx.now() - after
    ).order_by("name")
    reports = []
    for server in due:
        if not await VPNKey.filter(server_id=server.id, state=KeyState.LIVE).exists():
            continue
        try:
            report = await drain_server(
                ctx, name=server.name, actor=audit.WORKER, source_down=True, disable=False
            )
        except DomainError as exc:
            logger.warning("failover of %s postponed: %s", server.name, exc.message)
            continue
        reports.append(report)
        async with in_transaction():
            await tell_admins(ctx, admins, alerts.FAILOVER, server, report)
    return reports
