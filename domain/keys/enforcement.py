"""Applying the automatic rules (expiry, quota) to keys, server first, many at a time.

The same order as ``key_changes.change_key``: the server gets the key's intended state,
then the database records it with its audit event (and, through it, the owner's notice).
A server failure changes nothing; the next sweep or sync tries again.
"""

import logging
from collections import defaultdict
from enum import Enum

from tortoise import timezone

from db.models import InactiveReason, KeyState, VPNKey
from domain import audit
from domain.concurrency import bounded
from domain.context import Context
from domain.errors import DomainError
from domain.keys import remote
from domain.keys.changes import push_state
from domain.keys.locks import keys_locked
from domain.keys.rules import settle
from domain.redact import describe

logger = logging.getLogger(__name__)
# Keys settled together: leased at once (busy ones wait a round), one read, one transaction.
BATCH = 200


class _Current(Enum):
    LIMIT = "current"


CURRENT = _Current.LIMIT


async def enforce_many(ctx: Context, items: dict[int, int | _Current | None]) -> dict[int, str]:
    """Settle keys against expiry and quota and push the result to their servers.

    ``items`` maps key ids to the server limit intended before the caller changed the key's
    ledger (``CURRENT``: the one it has now). In batches: each batch's servers are changed
    first (concurrently; a failure leaves that key for the next round), then one transaction
    records every transition a server accepted, with its audit event. Returns the
    transitions' actions by key id."""
    done: dict[int, str] = {}
    ids = sorted(items)
    for start in range(0, len(ids), BATCH):
        done |= await _enforce_batch(ctx, ids[start : start + BATCH], items)
    return done


async def _enforce_batch(
    ctx: Context, ids: list[int], items: dict[int, int | _Current | None]
) -> dict[int, str]:
    async with keys_locked(ids) as (taken, lease):
        if not taken:  # every key busy with another change: the next round settles them
            return {}
        query = VPNKey.filter(id__in=sorted(taken), state=KeyState.LIVE).select_related("server")
        keys = await query
        planned: list[tuple[VPNKey, str | None, int | None]] = []
        for key in keys:
            if not key.server.is_active:
                continue
            before = items[key.id]
            limit = remote.server_limit(key) if isinstance(before, _Current) else before
            transition = settle(key, ctx.now())
            if transition is not None or remote.server_limit(key) != limit:
                planned.append((key, transition, limit))

        async def push(item: tuple[VPNKey, str | None, int | None]) -> bool:
            key, _, limit = item
            try:
                await push_state(ctx, key, name=key.name, limit=limit)
            except DomainError as exc:
                logger.warning("rules of key %s not applied yet: %s", key.id, describe(exc))
                return False
            return True

        pushed = await bounded(planned, push)
        changed = [(key, t) for (key, t, _), ok in zip(planned, pushed, strict=True) if ok and t]
        if changed:
            async with lease.transaction():
                await _save_states([key for key, _ in changed])
                await audit.record_many(audit.WORKER, [(t, key) for key, t in changed])
        return {key.id: transition for key, transition in changed}


async def _save_states(keys: list[VPNKey]) -> None:
    """Write the keys' new activity: one ``UPDATE`` per distinct state, not one per key."""
    states: dict[tuple[bool, InactiveReason | None], list[int]] = defaultdict(list)
    for key in keys:
        states[key.is_active, key.inactive_reason].append(key.id)
    now = timezone.now()
    for (active, reason), ids in states.items():
        await VPNKey.filter(id__in=ids).update(
            is_active=active, inactive_reason=reason, updated_at=now
        )
    for key in keys:
        key.updated_at = now
