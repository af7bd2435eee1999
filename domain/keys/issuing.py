"""Issuing keys: demo and paid keys, refresh of a leaked key, binding to a user; look-ups."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from db import reads
from db.models import KeyState, TrafficReset, User, VPNKey, VPNServer
from domain import audit, bounds
from domain.accounts import users
from domain.context import Context
from domain.errors import Conflict, DomainError, Invalid, NotFound
from domain.keys import outcomes, provisioning, remote
from domain.keys.locks import key_lock, staged_key_lock
from domain.keys.provisioning import KeySpec
from domain.keys.rules import settle
from domain.links.signing import LinkSigner
from domain.notices import outbox
from domain.servers import registry
from domain.traffic.unbooked import unbooked_usage

NAME_MAX = 100
# Refreshes followed from an old key to the key that replaced it, at most.
CHAIN_MAX = 100
# Also written in the key write's transaction (e.g. a payment marked applied); raising
# rolls it back (and removes a new key again).
Hook = Callable[[VPNKey], Awaitable[None]]


def check_name(name: str) -> str:
    """A key name stripped and checked against Outline's limits."""
    name = name.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise Invalid(f"key name must be 1-{NAME_MAX} characters", field="name")
    return name


async def next_key_name(tg_id: int | None) -> str:
    """ "Key N" for the user's N-th key (a refresh is the same key), skipping names in use."""
    if tg_id is None:
        return "Key"
    taken = set(
        await VPNKey.filter(owner_id=tg_id, state=KeyState.LIVE).values_list("name", flat=True)
    )
    number = (
        await VPNKey.filter(owner_id=tg_id, previous_id=None)
        .exclude(state=KeyState.CREATING)
        .count()
        + 1
    )
    while f"Key {number}" in taken:
        number += 1
    return f"Key {number}"


async def live_key(key_id: int, server: str | None = None) -> VPNKey:
    """A live key (with its server loaded), optionally required to be on ``server``."""
    key = None
    if bounds.in_range(key_id, bounds.MAX_ROW_ID):
        key = await VPNKey.get_or_none(id=key_id).select_related("server")
    if key is None or key.state == KeyState.CREATING:
        raise NotFound(f"key {key_id} not found", key=key_id)
    if server is not None and key.server.name != server:
        raise NotFound(f"key {key_id} is not on server '{server}'", key=key_id)
    if key.state == KeyState.DELETED:
        raise Conflict(f"key {key_id} has been deleted", key=key_id)
    return key


async def current_key(key_id: int) -> VPNKey | None:
    """The key ``key_id``, or the key that replaced it when it was refreshed (and so on)."""
    if not bounds.in_range(key_id, bounds.MAX_ROW_ID):
        return None
    key = await VPNKey.get_or_none(id=key_id).select_related("server")
    for _ in range(CHAIN_MAX):
        if key is None or key.state != KeyState.DELETED:
            return key
        key = (
            await VPNKey.filter(previous_id=key.id, state__in=(KeyState.LIVE, KeyState.DELETED))
            .select_related("server")
            .order_by("-id")
            .first()
        )
    return None


async def key_chain(key: VPNKey) -> list[int]:
    """``key`` and the keys it replaced by refreshes, newest first."""
    chain, previous = [key.id], key.previous_id
    while previous is not None and len(chain) < CHAIN_MAX:
        chain.append(previous)
        previous = await VPNKey.filter(id=previous).first().values_list("previous_id", flat=True)
    return chain


async def user_keys(tg_id: int) -> list[VPNKey]:
    """A user's live keys on every server."""
    await users.get_user(tg_id)
    query = VPNKey.filter(owner_id=tg_id, state=KeyState.LIVE)
    return await query.select_related("server").order_by("id")


# The user, the server and the keys in one query: a row even when either is unknown.
USER_KEYS_SQL = """
SELECT u.id AS user_found, s.id AS server_found, s.name AS server, k.id, k.owner_id, k.name,
  k.access_url, k.link_id, k.is_active, k.inactive_reason, k.is_demo, k.valid_until,
  k.traffic_limit, k.traffic_used, k.previous_id, k.created_at, k.updated_at
FROM (SELECT CAST($1 AS BIGINT) AS tg_id, CAST($2 AS TEXT) AS name) AS asked
LEFT JOIN users AS u ON u.id = asked.tg_id
LEFT JOIN vpn_servers AS s ON s.name = asked.name
LEFT JOIN vpn_keys AS k ON k.owner_id = u.id AND k.server_id = s.id AND k.state = 'live'
ORDER BY k.id
"""


async def user_key_rows(
    tg_id: int, server: str, *, links: LinkSigner | None = None
) -> list[dict[str, Any]]:
    """A user's live keys on one server as plain rows with the fields of the API's key object
    (``links`` signs `dynamic_url`), in one query. An unknown user is reported before an
    unknown server."""
    if not bounds.in_range(tg_id, bounds.MAX_TG_ID):
        raise NotFound(f"user {tg_id} not found", user=tg_id)
    rows = await reads.fetch(USER_KEYS_SQL, tg_id, server)
    if rows[0]["user_found"] is None:
        raise NotFound(f"user {tg_id} not found", user=tg_id)
    if rows[0]["server_found"] is None:
        raise NotFound(f"server '{server}' not found", server=server)
    return [_key_row(row, links) for row in rows if row["id"] is not None]


def _key_row(row: dict[str, Any], links: LinkSigner | None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "server": row["server"],
        "tg_id": row["owner_id"],
        "name": row["name"],
        "access_url": row["access_url"] or "",
        "dynamic_url": links.url_of(row["link_id"], row["name"]) if links else None,
        "is_active": bool(row["is_active"]),
        "inactive_reason": row["inactive_reason"],
        "is_demo": bool(row["is_demo"]),
        "valid_until": reads.utc(row["valid_until"]),
        "traffic_limit": row["traffic_limit"],
        "traffic_used": row["traffic_used"],
        "previous_id": row["previous_id"],
        "created_at": reads.utc(row["created_at"]),
        "updated_at": reads.utc(row["updated_at"]),
    }


async def _issue(
    ctx: Context,
    server: VPNServer,
    spec: KeySpec,
    *,
    actor: str,
    action: str,
    also: Hook | None = None,
) -> VPNKey:
    key = await provisioning.stage(server, spec)
    async with staged_key_lock(key) as lease:  # the reconciler leaves a key being created be
        settle(key, ctx.now())  # a past expiry or a zero limit issues the key already cut
        created = await provisioning.push(ctx, server, key)
        provisioning.go_live(key, created)
        fields = ["access_url", "state", "is_active", "inactive_reason", "updated_at"]
        fields += lease.release_with(key)
        event = audit.event(actor, action, key=key, details={"server": server.name})
        try:
            if also is None and not outbox.causes_notices(event, key):
                await lease.save_with(key, fields, event)  # one round trip
            else:
                async with lease.transaction():
                    await key.save(update_fields=fields)
                    await audit.save(event, key)
                    if also is not None:
                        await also(key)
        except DomainError:  # the lease ran out, or ``also`` refused: no key after all
            await provisioning.discard(ctx, server, key)
            raise
    key.server = server
    return key


async def create_demo_key(ctx: Context, *, tg_id: int, server: str, actor: str) -> VPNKey:
    """The user's one demo key, ever; a second request (even a concurrent one) conflicts."""
    srv = await registry.usable_server(server)
    user = await users.get_user(tg_id)
    claimed = await User.filter(id=tg_id, demo_issued_at=None).update(demo_issued_at=ctx.now())
    if not claimed:
        raise Conflict(f"user {tg_id} already received a demo key", user=tg_id)
    spec = KeySpec(
        name=f"demo {user.username or tg_id}"[:NAME_MAX],
        owner_id=tg_id,
        is_demo=True,
        valid_until=bounds.extended(ctx.now(), ctx.demo_days, field="demo_days"),
        traffic_limit=ctx.demo_traffic_bytes,
    )
    try:
        return await _issue(ctx, srv, spec, actor=actor, action="key.created")
    except DomainError:  # the trial is available again at once
        await provisioning.release_demo(tg_id, unfinished_too=True)
        raise


async def create_key(
    ctx: Context,
    *,
    server: str,
    actor: str,
    tg_id: int | None = None,
    name: str | None = None,
    valid_until: datetime | None = None,
    days: int | None = None,
    traffic_limit: int | None = None,
    traffic_reset: TrafficReset = TrafficReset.NO_RESET,
    also: Hook | None = None,
) -> VPNKey:
    """A new (paid) key, optionally bound to a user, with optional expiry and limit."""
    if valid_until is not None and days is not None:
        raise Invalid("give either valid_until or days, not both", field="days")
    bounds.check_bytes(traffic_limit)
    valid_until = bounds.check_expiry(valid_until)
    if days is not None:
        valid_until = bounds.extended(ctx.now(), days)
    srv = await registry.usable_server(server)
    if tg_id is not None:
        await users.get_user(tg_id)
    spec = KeySpec(
        name=check_name(name) if name is not None else await next_key_name(tg_id),
        owner_id=tg_id,
        valid_until=valid_until,
        traffic_limit=traffic_limit,
        traffic_reset=traffic_reset,
        period_started_at=ctx.now() if traffic_reset == TrafficReset.MONTHLY else None,
    )
    return await _issue(ctx, srv, spec, actor=actor, action="key.created", also=also)


async def refresh_key(ctx: Context, *, key_id: int, server: str, actor: str) -> VPNKey:
    """Replace a leaked key by a new one on the same server, carrying usage over."""
    async with key_lock(key_id) as old_lease:
        old = await live_key(key_id, server)
        srv = await registry.usable_server(server)
        client = remote.backend(ctx, srv)
        used = old.traffic_used + (await unbooked_usage(ctx, srv, [old]))[old.id]
        spec = KeySpec(
            name=old.name,
            owner_id=old.owner_id,
            is_demo=old.is_demo,
            valid_until=old.valid_until,
            traffic_limit=old.traffic_limit,
            traffic_used=used,
            is_active=old.is_active,
            inactive_reason=old.inactive_reason,
            previous_id=old.id,
            traffic_reset=old.traffic_reset,
            period_started_at=old.period_started_at,
        )
        new = await provisioning.stage(srv, spec)
        async with staged_key_lock(new) as new_lease:
            created = await provisioning.push(ctx, srv, new)
            try:
                # Unconfirmed counts as deleted: the new key is never dropped for a lost answer.
                await outcomes.delete(srv, client, old.remote_id)
            except DomainError:
                await provisioning.discard(ctx, srv, new)
                raise
            async with old_lease.transaction():
                await new_lease.confirm()
                provisioning.go_live(new, created)
                fields = ["access_url", "state", "updated_at", *new_lease.release_with(new)]
                await new.save(update_fields=fields)
                old.state, old.deleted_at, old.traffic_used = KeyState.DELETED, ctx.now(), used
                fields = ["state", "deleted_at", "traffic_used", "updated_at"]
                await old.save(update_fields=fields)
                details = {"previous_id": old.id}
                await audit.record(actor, "key.refreshed", key=new, details=details)
    new.server = srv
    return new


async def bind_key(
    *, key_id: int, server: str, tg_id: int, force: bool = False, actor: str
) -> VPNKey:
    """Give a key to a user; taking it from another user needs ``force``."""
    async with key_lock(key_id) as lease:
        key = await live_key(key_id, server)
        await users.get_user(tg_id)
        if key.owner_id == tg_id:
            return key
        if key.owner_id is not None and not force:
            raise Conflict(f"key {key_id} belongs to another user", key=key_id)
        previous_owner = key.owner_id
        async with lease.transaction():
            key.owner_id = tg_id
            await key.save(update_fields=["owner_id", "updated_at"])
            details = {"from": previous_owner, "to": tg_id}
            await audit.record(actor, "key.bound", key=key, details=details)
        return key
