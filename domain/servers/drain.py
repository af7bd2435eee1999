"""Draining a server: every live key moved to the other active servers, balanced by keys.

The server is disabled first (no new keys land on it), then each key moves on its own
(``domain.keys.moves``), so a drain stopped at any point is resumed by running it again.
A target that stops answering is left out for the rest of the drain (not one that only
held the ids drawn for a copy: that key fails and the next one goes there as usual).
"""

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tortoise.transactions import in_transaction

from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import Conflict, DomainError, Invalid, NotFound, ServerUnavailable
from domain.keys import moves, outcomes
from domain.keys.reconcile import reconcile
from domain.servers import alerts, registry

logger = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass
class DrainReport:
    """What a drain moved where, what failed, and what is still on the server."""

    server: str
    moved: Counter[str] = field(default_factory=Counter)
    failed: dict[int, str] = field(default_factory=dict)
    left: int = 0
    leftovers_deleted: int = 0

    @property
    def complete(self) -> bool:
        """Whether no live key is left on the drained server."""
        return self.left == 0


async def _targets(src: VPNServer, names: list[str] | None) -> list[VPNServer]:
    if names:
        chosen = [await registry.usable_server(name) for name in names]
    else:
        chosen = [s for s in await registry.list_servers(active_only=True) if s.reachable]
    chosen = [s for s in chosen if s.id != src.id and not s.draining]
    if not chosen:
        raise Conflict(
            f"no other active server can take the keys of '{src.name}'", server=src.name
        )
    return chosen


async def drain_server(
    ctx: Context,
    *,
    name: str,
    actor: str,
    targets: list[str] | None = None,
    source_down: bool | None = None,
    progress: Progress | None = None,
    disable: bool = True,
) -> DrainReport:
    """Disable ``name`` and move each of its live keys to the least loaded target.

    ``source_down`` (default: what the health watch says) moves keys without calling the
    drained server: usage it has not reported is lost, its copies wait for the reconciler.
    ``disable=False`` (failover) leaves it enabled, so it is watched and reconciled.
    """
    src = await registry.get_server(name)
    if targets and name in targets:
        raise Invalid(f"server '{name}' cannot take its own keys", field="to")
    pool = await _targets(src, targets)
    if disable and src.is_active:
        src = await registry.set_server_active(name, False, actor=actor)
    down = (not src.reachable) if source_down is None else source_down
    keys = await VPNKey.filter(server=src, state=KeyState.LIVE).order_by("id")
    counts = await registry.live_key_counts()
    report = DrainReport(src.name)
    for done, key in enumerate(keys, start=1):
        await _move_one(ctx, key, src, pool, counts, report, actor=actor, source_down=down)
        if progress is not None:
            progress(done, len(keys))
    report.left = await VPNKey.filter(server=src, state=KeyState.LIVE).count()
    if not down:  # the old copies the server did not delete at once
        [leftovers] = await reconcile(ctx, server=src.name, actor=actor)
        report.leftovers_deleted = len(leftovers.orphans_deleted)
    return report


async def _move_one(
    ctx: Context,
    key: VPNKey,
    src: VPNServer,
    pool: list[VPNServer],
    counts: dict[int, int],
    report: DrainReport,
    *,
    actor: str,
    source_down: bool,
) -> None:
    """Move one key to the least loaded target, trying the next one when a target fails."""
    while pool:
        dst = min(pool, key=lambda s: (counts.get(s.id, 0), s.name))
        try:
            await moves.move_key(
                ctx, key_id=key.id, server=src.name, target=dst.name, actor=actor,
                source_down=source_down,
            )  # fmt: skip
        except (NotFound, Conflict, ServerUnavailable) as exc:
            report.failed[key.id] = exc.message
            if isinstance(exc, outcomes.KeyIdTaken) or exc.params.get("server") != dst.name:
                return  # the key itself, the drained server, or taken ids: next key
            pool.remove(dst)
            logger.warning("drain %s: %s left out: %s", src.name, dst.name, exc.message)
        else:
            report.failed.pop(key.id, None)
            counts[dst.id] = counts.get(dst.id, 0) + 1
            report.moved[dst.name] += 1
            return


@dataclass(frozen=True, slots=True)
class DrainPlan:
    """What draining a server would move."""

    server_id: int
    server: str
    live_keys: int


async def plan_drain(server_id: int) -> DrainPlan:
    """The server with id ``server_id`` and its live key count (checked drainable)."""
    server = await VPNServer.get_or_none(id=server_id)
    if server is None:
        raise NotFound(f"server {server_id} not found", server=server_id)
    await _targets(server, None)
    live = await VPNKey.filter(server=server, state=KeyState.LIVE).count()
    return DrainPlan(server.id, server.name, live)


async def request_drain(server_id: int, *, actor: str) -> VPNServer:
    """Ask the worker to drain a server (the admin bot's way: it runs in the background).

    The server is disabled at once, so no new key lands on it meanwhile.
    """
    plan = await plan_drain(server_id)
    server = await VPNServer.get(id=plan.server_id)
    async with in_transaction():
        await VPNServer.filter(id=server.id).update(draining=True, is_active=False)
        await audit.record(actor, "server.drain_requested", details={"server": server.name})
    server.draining, server.is_active = True, False
    return server


async def run_requested_drains(ctx: Context, admins: frozenset[int]) -> list[DrainReport]:
    """The worker's part: drain every server an admin asked for, then tell the admins.

    The request stays set until its drain has run, so a crash mid-drain resumes it.
    """
    reports = []
    for server in await VPNServer.filter(draining=True).order_by("name"):
        try:
            report = await drain_server(ctx, name=server.name, actor=audit.WORKER)
        except DomainError as exc:
            report = DrainReport(server.name, failed={0: exc.message})
            report.left = await VPNKey.filter(server=server, state=KeyState.LIVE).count()
        reports.append(report)
        async with in_transaction():
            await VPNServer.filter(id=server.id).update(draining=False)
            await tell_admins(ctx, admins, alerts.DRAIN_DONE, server, report)
    return reports


async def tell_admins(
    ctx: Context, admins: frozenset[int], kind: str, server: VPNServer, report: DrainReport
) -> None:
    """Audit a drain or failover and alert the admins (inside the caller's transaction)."""
    payload = {
        "server": server.name,
        "moved": dict(report.moved),
        "failed": len(report.failed),
        "left": report.left,
    }
    await audit.record(audit.WORKER, f"server.{kind}", details=payload)
    dedup = f"{kind}:{server.id}:{int(ctx.now().timestamp())}"
    await alerts.alert_admins(admins, kind, payload, dedup=dedup)
