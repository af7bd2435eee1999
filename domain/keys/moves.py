"""Moving a key to another server, keeping its id, dynamic link, usage and settings.

The order leaves the key working at every step and every copy findable:

1. a ``pending`` ``KeyMove`` row names the new copy (target server, a fresh remote id);
2. the copy is created on the target (same name, the allowance left as its limit);
3. one transaction points the key at the copy (only if nobody changed it meanwhile),
   books the usage the old server had not yet reported, and marks the move ``done``;
4. the old copy is deleted; if its server does not answer, it is an orphan the
   reconciler deletes when it answers again.

A failure before 3 deletes the new copy (or leaves the pending move to the reconciler,
which rolls back moves older than ``ctx.stale_after``): the key stays where it was. A drawn
id the target already holds (``409``) is someone else's key: as ``provisioning.push`` does,
it is left alone (that move is rolled back, nothing deleted) and the copy is tried again
under a fresh id.
A database failure at 3 is not undone here (its commit may have happened): the reconciler
finds the move ``pending`` (rolled back) or ``done`` (the old copy is the orphan).
"""

import logging
from contextlib import suppress

from db.models import KeyMove, KeyState, MoveState, TrafficBucket, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import Conflict, DomainError, Invalid, NotFound
from domain.keys import installation, outcomes, provisioning, remote
from domain.keys.issuing import live_key
from domain.keys.locks import KeyBusy, Lease, key_lock
from domain.servers import registry
from domain.traffic.unbooked import unbooked_usage
from vpn.backends import RemoteKey

logger = logging.getLogger(__name__)
# Attempts at step 3 when the traffic ledger booked the key between our reads.
SWITCH_ATTEMPTS = 3


async def _unbooked(ctx: Context, key: VPNKey) -> int:
    return (await unbooked_usage(ctx, key.server, [key]))[key.id]


async def move_key(
    ctx: Context,
    *,
    key_id: int,
    server: str | None,
    target: str,
    actor: str,
    source_down: bool = False,
) -> VPNKey:
    """Move a live key to ``target`` (a server name or ``auto``).

    ``source_down`` skips every call to the key's current server (failover): usage it has
    not reported is lost and its copy is left for the reconciler.
    """
    async with key_lock(key_id) as lease:
        key = await live_key(key_id, server)
        src = key.server
        dst = await registry.usable_server(target, exclude=src.id)
        if dst.id == src.id:
            raise Invalid(f"key {key_id} is already on server '{dst.name}'", field="server")
        used = key.traffic_used + (0 if source_down else await _unbooked(ctx, key))
        move, created = await _create_copy(ctx, key, dst, used, actor=actor)
        await _switch(ctx, lease, key, move, (src, dst), created, used, source_down=source_down)
        if not source_down:
            await _delete_old_copy(ctx, src, move)
        return await VPNKey.get(id=key_id).select_related("server")


async def move_to(ctx: Context, *, key_id: int, server_id: int | None, actor: str) -> VPNKey:
    """Move a key to the server with id ``server_id`` (``None``: the least loaded one)."""
    target = registry.AUTO
    if server_id is not None:
        server = await VPNServer.get_or_none(id=server_id)
        if server is None:
            raise NotFound(f"server {server_id} not found", server=server_id)
        target = server.name
    return await move_key(ctx, key_id=key_id, server=None, target=target, actor=actor)


def _copy_of(key: VPNKey, move: KeyMove, used: int) -> VPNKey:
    """The key as the target server should hold it: the move's id, nothing counted yet."""
    return VPNKey(
        remote_id=move.to_remote_id,
        name=key.name,
        is_active=key.is_active,
        traffic_limit=key.traffic_limit,
        traffic_used=used,
        usage_baseline=0,
    )


async def _create_copy(
    ctx: Context, key: VPNKey, dst: VPNServer, used: int, *, actor: str
) -> tuple[KeyMove, RemoteKey]:
    """The pending move and its copy on ``dst``, under a fresh id the server did not hold
    (drawn again when it did, as ``provisioning.stage`` draws again for a taken row id)."""
    ids = await installation.key_ids()
    for _ in range(provisioning.STAGE_ATTEMPTS - 1):
        with suppress(outcomes.KeyIdTaken):
            return await _try_copy(ctx, key, dst, used, ids.new(), actor=actor)
    return await _try_copy(ctx, key, dst, used, ids.new(), actor=actor)


async def _try_copy(
    ctx: Context, key: VPNKey, dst: VPNServer, used: int, remote_id: str, *, actor: str
) -> tuple[KeyMove, RemoteKey]:
    move = await KeyMove.create(
        key=key,
        from_server=key.server,
        from_remote_id=key.remote_id,
        to_server=dst,
        to_remote_id=remote_id,
        actor=actor,
    )
    copy = _copy_of(key, move, used)
    try:
        return move, await outcomes.create(dst, remote.backend(ctx, dst), copy)
    except outcomes.KeyIdTaken:
        await _finish(ctx, move, MoveState.ROLLED_BACK)  # the key under that id: leave it
        raise
    except DomainError:
        await undo_move(ctx, move, dst)
        raise


async def _finish(ctx: Context, move: KeyMove, state: MoveState) -> None:
    move.state, move.finished_at = state, ctx.now()
    await move.save(update_fields=["state", "finished_at"])


async def _switch(
    ctx: Context,
    lease: Lease,
    key: VPNKey,
    move: KeyMove,
    servers: tuple[VPNServer, VPNServer],
    created: RemoteKey,
    used: int,
    *,
    source_down: bool,
) -> None:
    """Point the key at its new copy, unless it changed since it was read (then re-read)."""
    for _ in range(SWITCH_ATTEMPTS):
        async with lease.transaction():
            switched = await VPNKey.filter(
                id=key.id,
                state=KeyState.LIVE,
                server_id=move.from_server_id,
                remote_id=move.from_remote_id,
                traffic_used=key.traffic_used,
                usage_baseline=key.usage_baseline,
            ).update(
                server_id=move.to_server_id,
                remote_id=move.to_remote_id,
                access_url=created.access_url,
                traffic_used=used,
                usage_baseline=0,
            )
            if switched:
                # The hourly history described the old server's counter.
                await TrafficBucket.filter(key_id=key.id).delete()
                await _finish(ctx, move, MoveState.DONE)
                src, key.server = servers
                key.remote_id, key.access_url = move.to_remote_id, created.access_url
                key.traffic_used, key.usage_baseline = used, 0
                details = {"from": src.name, "to": key.server.name}
                await audit.record(move.actor, "key.moved", key=key, details=details)
                return
        await key.refresh_from_db()
        if key.state != KeyState.LIVE or key.remote_id != move.from_remote_id:
            break
        used = key.traffic_used + (0 if source_down else await _unbooked(ctx, key))
    await undo_move(ctx, move, servers[1])
    raise Conflict(f"key {key.id} changed while it was being moved; try again", key=key.id)


async def _delete_copy(ctx: Context, server: VPNServer, remote_id: str, move: KeyMove) -> bool:
    """Delete one copy of a moving key; ``False`` (logged) unless the server confirmed it."""
    try:
        gone = await outcomes.delete(server, remote.backend(ctx, server), remote_id)
    except DomainError:
        gone = False
    if not gone:
        logger.warning("move %s: a copy is left on %s for the reconciler", move.id, server.name)
    return gone


async def _delete_old_copy(ctx: Context, src: VPNServer, move: KeyMove) -> None:
    await _delete_copy(ctx, src, move.from_remote_id, move)


async def _held_by_another(move: KeyMove) -> bool:
    """Whether the target's key under the move's id is another key's (its id was taken:
    a process that died between the ``409`` and marking the move left it pending)."""
    held = VPNKey.filter(server_id=move.to_server_id, remote_id=move.to_remote_id)
    other_move = KeyMove.filter(
        to_server_id=move.to_server_id, to_remote_id=move.to_remote_id, state=MoveState.PENDING
    ).exclude(id=move.id)
    return await held.exclude(state=KeyState.DELETED).exists() or await other_move.exists()


async def undo_move(ctx: Context, move: KeyMove, dst: VPNServer) -> bool:
    """Delete a pending move's copy on the target; ``False`` if it must wait (stays pending).

    A key another row holds under the same id is never deleted."""
    if not await _held_by_another(move) and not await _delete_copy(
        ctx, dst, move.to_remote_id, move
    ):
        return False
    await _finish(ctx, move, MoveState.ROLLED_BACK)
    return True


async def settle_moves(
    ctx: Context, srv: VPNServer, *, dry_run: bool
) -> tuple[set[str], list[int]]:
    """For the reconciler of ``srv``: remote ids of moves still in flight to it (keep them),
    and the keys whose stale moves to it were (or, in a dry run, would be) rolled back."""
    pending = await KeyMove.filter(to_server=srv, state=MoveState.PENDING)
    stale_before = ctx.now() - ctx.stale_after
    in_flight, rolled_back = set(), []
    for move in pending:
        if move.created_at > stale_before:
            in_flight.add(move.to_remote_id)
            continue
        rolled_back.append(move.key_id)
        if dry_run:
            continue
        try:
            async with key_lock(move.key_id, wait=0):
                await move.refresh_from_db()
                if move.state == MoveState.PENDING and not await undo_move(ctx, move, srv):
                    in_flight.add(move.to_remote_id)
        except KeyBusy:  # its move (or another change) is running right now
            in_flight.add(move.to_remote_id)
    return in_flight, rolled_back
