"""Creating keys on a server so that a failure at any step leaves no orphan.

A key row is committed in state ``creating`` *before* the server is asked to create a key
under the id stored in it; only then is it marked ``live``. A failure cleans up at once
when it can, and otherwise leaves a ``creating`` row the reconciler rolls back.
"""

import logging
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError

from db import writes
from db.models import KeyState, TrafficReset, User, VPNKey, VPNServer
from domain.context import Context
from domain.errors import DomainError
from domain.keys import installation, locks, outcomes, remote
from domain.links.signing import new_link_id
from vpn.backends import RemoteKey

logger = logging.getLogger(__name__)
STAGE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class KeySpec:
    """Everything a new key row carries before it exists on the server."""

    name: str
    owner_id: int | None = None
    is_demo: bool = False
    valid_until: datetime | None = None
    traffic_limit: int | None = None
    traffic_used: int = 0
    is_active: bool = True
    inactive_reason: str | None = None
    previous_id: int | None = None
    traffic_reset: TrafficReset = TrafficReset.NO_RESET
    period_started_at: datetime | None = None


async def stage(server: VPNServer, spec: KeySpec) -> VPNKey:
    """Commit the row of a key about to be created (state ``creating``) under a fresh id,
    already leased to the caller (``locks.staged_key_lock``): the reconciler leaves it be."""
    ids = await installation.key_ids()
    for _ in range(STAGE_ATTEMPTS - 1):
        with suppress(IntegrityError):  # the random id is taken on this server: draw again
            return await _insert(server, spec, ids.new())
    return await _insert(server, spec, ids.new())


async def _insert(server: VPNServer, spec: KeySpec, remote_id: str) -> VPNKey:
    key = VPNKey(
        server=server,
        remote_id=remote_id,
        link_id=new_link_id(),
        state=KeyState.CREATING,
        owner_id=spec.owner_id,
        name=spec.name,
        is_demo=spec.is_demo,
        valid_until=spec.valid_until,
        traffic_limit=spec.traffic_limit,
        traffic_used=spec.traffic_used,
        is_active=spec.is_active,
        inactive_reason=spec.inactive_reason,
        previous_id=spec.previous_id,
        traffic_reset=spec.traffic_reset,
        period_started_at=spec.period_started_at,
        **locks.new_lease(),
    )
    await writes.insert(key)  # on SQLite committed together with concurrent creates
    return key


async def push(ctx: Context, server: VPNServer, key: VPNKey) -> RemoteKey:
    """Create the staged key on the server; on failure undo what can be undone and re-raise."""
    try:
        return await outcomes.create(server, remote.backend(ctx, server), key)
    except outcomes.KeyIdTaken:
        await key.delete()  # the server's key under that id is someone else's: leave it
        raise
    except DomainError:
        await discard(ctx, server, key)
        raise


async def discard(ctx: Context, server: VPNServer, key: VPNKey) -> bool:
    """Delete a never-confirmed key from the server and its row; ``False`` if it must wait."""
    try:
        gone = await outcomes.delete(server, remote.backend(ctx, server), key.remote_id)
    except DomainError:
        gone = False
    if not gone:
        logger.warning("key %s left for the reconciler: server %s failed", key.id, server.name)
        return False
    await key.delete()
    if key.is_demo and key.owner_id is not None:
        await release_demo(key.owner_id)
    return True


async def release_demo(tg_id: int, *, unfinished_too: bool = False) -> None:
    """Give a user back the demo claim of a demo key that never came to exist.

    Another demo key of the user keeps the claim; ``unfinished_too`` disregards unfinished
    ones (for the request whose own creation failed: no other one can be in flight then).
    """
    others = VPNKey.filter(owner_id=tg_id, is_demo=True)
    if unfinished_too:
        others = others.exclude(state=KeyState.CREATING)
    if not await others.exists():
        await User.filter(id=tg_id).update(demo_issued_at=None)


def go_live(key: VPNKey, created: RemoteKey) -> None:
    """Mark a staged key as confirmed on the server (caller saves it)."""
    key.access_url = created.access_url
    key.state = KeyState.LIVE
