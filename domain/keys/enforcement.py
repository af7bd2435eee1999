"""Applying the automatic rules (expiry, quota) to one key, server first.

The same order as ``key_changes.change_key``: the server gets the key's intended state,
then the database records it with its audit event (and, through it, the owner's notice).
A server failure changes nothing; the next sweep or sync tries again.
"""

from enum import Enum

from domain import audit
from domain.context import Context
from domain.keys import remote
from domain.keys.changes import push_state
from domain.keys.issuing import live_key
from domain.keys.locks import key_lock
from domain.keys.rules import settle


class _Current(Enum):
    LIMIT = "current"


CURRENT = _Current.LIMIT


async def enforce_rules(
    ctx: Context, key_id: int, *, limit_before: int | _Current | None = CURRENT
) -> str | None:
    """Settle one key against expiry and quota and push the result to its server.

    ``limit_before`` is the server limit intended before the caller changed the key's
    ledger (default: the current one). Returns the transition's action, if any.
    """
    async with key_lock(key_id) as lease:
        key = await live_key(key_id)
        if not key.server.is_active:
            return None
        limit = remote.server_limit(key) if limit_before is CURRENT else limit_before
        transition = settle(key, ctx.now())
        if transition is None and remote.server_limit(key) == limit:
            return None
        await push_state(ctx, key, name=key.name, limit=limit)
        if transition is not None:
            async with lease.transaction():
                await key.save(update_fields=["is_active", "inactive_reason", "updated_at"])
                await audit.record(audit.WORKER, transition, key=key)
        return transition
