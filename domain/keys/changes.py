"""Changing a live key: expiry, activity, name, traffic limit, deletion.

The server is changed first and the database after it, so a server failure changes
nothing here; a lost answer is settled first (``domain.keys.outcomes``); if the process
dies between the two, the reconciler re-applies the database's intent to the server.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from db.models import InactiveReason, KeyState, VPNKey
from domain import audit, bounds
from domain.context import Context
from domain.errors import Conflict
from domain.keys import outcomes, remote
from domain.keys.issuing import Hook, check_name, live_key
from domain.keys.locks import key_lock
from domain.keys.rules import settle
from domain.servers import registry

Change = Callable[[VPNKey], dict[str, Any]]
# The fields a change may touch; only those it really changed are written, so a change
# never overwrites what another writer (the traffic ledger) stored meanwhile.
TRACKED = (
    "name",
    "valid_until",
    "traffic_limit",
    "traffic_used",
    "traffic_reset",
    "period_started_at",
    "is_active",
    "inactive_reason",
)


async def push_state(ctx: Context, key: VPNKey, *, name: str, limit: int | None) -> None:
    """Make the server match ``key`` given what it held before (``name``/``limit``)."""
    srv, client, remote_id = key.server, remote.backend(ctx, key.server), key.remote_id
    new_name, new_limit = key.name, remote.server_limit(key)
    if new_name != name:
        send = lambda: client.rename_key(remote_id, new_name)  # noqa: E731
        await outcomes.apply(srv, client, remote_id, send, lambda found: found.name == new_name)
    if new_limit != limit:
        send = lambda: client.set_limit(remote_id, new_limit)  # noqa: E731
        await outcomes.apply(srv, client, remote_id, send, lambda found: found.limit == new_limit)


async def change_key(
    ctx: Context,
    key_id: int,
    server: str | None,
    change: Change,
    *,
    actor: str,
    action: str,
    also: Hook | None = None,
) -> VPNKey:
    """Apply ``change`` (which edits the key and returns audit details) under the key lock."""
    async with key_lock(key_id) as lease:
        key = await live_key(key_id, server)
        if not key.server.is_active:
            raise Conflict(f"server '{key.server.name}' is disabled", server=key.server.name)
        name, limit = key.name, remote.server_limit(key)
        before = {field: getattr(key, field) for field in TRACKED}
        details = change(key)
        transition = settle(key, ctx.now())
        await push_state(ctx, key, name=name, limit=limit)
        async with lease.transaction():
            changed = [field for field in TRACKED if getattr(key, field) != before[field]]
            await key.save(update_fields=[*changed, "updated_at"])
            await audit.record(actor, action, key=key, details=details)
            if transition:
                await audit.record(actor, transition, key=key)
            if also is not None:
                await also(key)
        return key


def _expiry_change(valid_until: datetime | None) -> Change:
    def change(key: VPNKey) -> dict[str, Any]:
        key.valid_until = valid_until
        return {"valid_until": valid_until.isoformat() if valid_until else None}

    return change


async def set_valid_until(
    ctx: Context, *, key_id: int, server: str, valid_until: datetime | None, actor: str
) -> VPNKey:
    """Set (or clear) the expiry; a future date re-opens a key cut for expiry."""
    change = _expiry_change(bounds.check_expiry(valid_until))
    return await change_key(ctx, key_id, server, change, actor=actor, action="key.extended")


async def extend_key(
    ctx: Context,
    *,
    key_id: int,
    server: str | None,
    days: int,
    actor: str,
    action: str = "key.extended",
    also: Hook | None = None,
) -> VPNKey:
    """Add ``days`` to the later of now and the current expiry (refused past year 8999)."""
    bounds.check_days(days)

    def change(key: VPNKey) -> dict[str, Any]:
        start = max(ctx.now(), key.valid_until or ctx.now())
        return _expiry_change(bounds.extended(start, days))(key)

    return await change_key(ctx, key_id, server, change, actor=actor, action=action, also=also)


async def set_active(
    ctx: Context, *, key_id: int, server: str | None, is_active: bool, actor: str
) -> VPNKey:
    """Disable a key by hand, or lift a manual disable (expiry and quota still apply)."""

    def change(key: VPNKey) -> dict[str, Any]:
        if is_active and key.inactive_reason in (InactiveReason.EXPIRED, InactiveReason.TRAFFIC):
            why = "expired" if key.inactive_reason == InactiveReason.EXPIRED else "over its quota"
            raise Conflict(f"key {key.id} is {why}; extend it or raise its limit", key=key.id)
        key.is_active = is_active
        key.inactive_reason = None if is_active else InactiveReason.MANUAL
        return {"is_active": is_active}

    action = "key.enabled" if is_active else "key.disabled"
    return await change_key(ctx, key_id, server, change, actor=actor, action=action)


async def rename_key(
    ctx: Context, *, key_id: int, server: str | None, name: str, actor: str
) -> VPNKey:
    """Rename a key here and on its server."""
    name = check_name(name)

    def change(key: VPNKey) -> dict[str, Any]:
        key.name = name
        return {"name": name}

    return await change_key(ctx, key_id, server, change, actor=actor, action="key.renamed")


async def set_traffic_limit(
    ctx: Context, *, key_id: int, server: str | None, traffic_limit: int | None, actor: str
) -> VPNKey:
    """Set the lifetime traffic allowance in bytes (``None`` = unlimited)."""
    bounds.check_bytes(traffic_limit)

    def change(key: VPNKey) -> dict[str, Any]:
        key.traffic_limit = traffic_limit
        return {"traffic_limit": traffic_limit}

    return await change_key(ctx, key_id, server, change, actor=actor, action="key.limit_changed")


async def delete_key(ctx: Context, *, key_id: int, server: str | None, actor: str) -> VPNKey:
    """Delete a key on its server, then mark it deleted (kept for history)."""
    async with key_lock(key_id) as lease:
        key = await live_key(key_id, server)
        srv = await registry.usable_server(key.server.name)
        await outcomes.delete(srv, remote.backend(ctx, srv), key.remote_id)
        async with lease.transaction():
            key.state, key.deleted_at = KeyState.DELETED, ctx.now()
            await key.save(update_fields=["state", "deleted_at", "updated_at"])
            await audit.record(actor, "key.deleted", key=key)
        return key
