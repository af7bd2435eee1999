"""Counting drift between the database and a server, and repairing it with the reconciler."""

from dataclasses import dataclass
from datetime import timedelta

from db.models import KeyState, VPNKey, VPNServer
from domain.context import Context
from domain.keys import installation, remote
from domain.keys.reconcile import reconcile


@dataclass
class Drift:
    """Orphans on the server, live keys missing there, ``creating`` rows, stale name/limit."""

    orphans: int = 0
    missing: int = 0
    half: int = 0
    stale: int = 0

    def __add__(self, other: "Drift") -> "Drift":
        mine, theirs = vars(self).values(), vars(other).values()
        return Drift(*(a + b for a, b in zip(mine, theirs, strict=True)))

    @property
    def total(self) -> int:
        return self.orphans + self.missing + self.half + self.stale


async def drift(ctx: Context, server: VPNServer) -> Drift:
    """How far the database and ``server`` disagree right now."""
    remote_keys = {k.id: k for k in await remote.backend(ctx, server).list_keys()}
    live = {k.remote_id: k for k in await VPNKey.filter(server=server, state=KeyState.LIVE)}
    ids = await installation.key_ids()
    ours = {rid for rid in remote_keys if ids.owns(rid)}
    stale = sum(
        1
        for rid, key in live.items()
        if rid in remote_keys
        and (remote_keys[rid].name, remote_keys[rid].limit) != (key.name, remote.server_limit(key))
    )
    return Drift(
        orphans=len(ours - live.keys()),
        missing=len(live.keys() - remote_keys.keys()),
        half=await VPNKey.filter(server=server, state=KeyState.CREATING).count(),
        stale=stale,
    )


async def repair(ctx: Context, server: VPNServer) -> dict[str, int]:
    """Reconcile ``server`` at once (nothing is in flight); what the reconciler did."""
    fresh = Context(pool=ctx.pool, stale_after=timedelta(0))
    [rep] = await reconcile(fresh, server=server.name)
    if rep.error:
        raise RuntimeError(f"reconcile failed: {rep.error}")
    return {
        "rolled_back": len(rep.rolled_back),
        "orphans_deleted": len(rep.orphans_deleted),
        "recreated": len(rep.recreated),
        "reapplied": len(rep.reapplied),
        "missing": len(rep.missing),
    }
