"""Key access for the bot: own keys (ownership checked here), the trial, admin look-ups."""

from dataclasses import dataclass, field

from db.models import KeyState, Payment, User, VPNKey, VPNServer
from domain.accounts import users
from domain.billing import payments as billing_payments
from domain.bounds import MAX_ROW_ID, in_range
from domain.context import Context
from domain.errors import Conflict, NotFound
from domain.keys import changes, issuing
from domain.servers import registry
from domain.servers.probe import answering

# How long a key an admin issues from the bot is valid; no traffic limit.
ISSUED_KEY_DAYS = 30
# The server id buttons carry for "the least loaded server" (``registry.AUTO``).
AUTO_SERVER_ID = -1


class TrialUsed(Conflict):
    """The user already received their one free trial key."""

    code = "trial_used"


@dataclass(frozen=True, slots=True)
class TrialOffer:
    """Either the issued trial key, or the servers the user must choose from first."""

    key: VPNKey | None = None
    servers: list[VPNServer] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UserOverview:
    """A user with their live keys, for the admin panel."""

    user: User
    keys: list[VPNKey]
    payments: list[Payment] = field(default_factory=list)


async def user_key(tg_id: int, key_id: int, *, any_owner: bool = False) -> VPNKey:
    """A live key of ``tg_id`` (of anyone with ``any_owner``); another user's key is NotFound.

    A refreshed key leads to the key that replaced it, so buttons under an old card work.
    """
    key = await issuing.current_key(key_id)
    mine = key is not None and (any_owner or key.owner_id == tg_id)
    if key is None or not mine or key.state != KeyState.LIVE:
        # Someone else's key looks exactly like a missing one: ids reveal nothing.
        raise NotFound(f"key {key_id} not found", key=key_id)
    return key


async def refresh_user_key(
    ctx: Context, *, tg_id: int, key_id: int, actor: str, any_owner: bool = False
) -> VPNKey:
    """Refresh a leaked key after checking that it belongs to ``tg_id``.

    A key already replaced is not replaced again (a second press of "Yes, refresh"): the
    key that replaced it is returned as it is.
    """
    key = await user_key(tg_id, key_id, any_owner=any_owner)
    if key.id != key_id:
        return key
    return await issuing.refresh_key(ctx, key_id=key.id, server=key.server.name, actor=actor)


async def rename_user_key(
    ctx: Context, *, tg_id: int, key_id: int, name: str, actor: str
) -> VPNKey:
    """Rename one of the user's own keys."""
    key = await user_key(tg_id, key_id)
    server = key.server.name
    return await changes.rename_key(ctx, key_id=key.id, server=server, name=name, actor=actor)


async def start_trial(
    ctx: Context, *, tg_id: int, server_id: int | None, actor: str
) -> TrialOffer:
    """Issue the trial key; without a server and several to choose from, offer them."""
    user = await users.get_user(tg_id)
    if user.has_demo:
        raise TrialUsed(f"user {tg_id} already received a demo key", user=tg_id)
    active = await registry.list_servers(active_only=True)
    if server_id is not None and server_id != AUTO_SERVER_ID:
        active = [s for s in active if s.id == server_id]
        if not active:
            raise NotFound(f"server {server_id} is not available", server=server_id)
    if not active:
        raise NotFound("no server is available", server=None)
    if len(active) > 1 and server_id is None:
        active = await answering(ctx, active)
    if len(active) > 1 and server_id is None:
        return TrialOffer(servers=active)
    name = registry.AUTO if server_id == AUTO_SERVER_ID else active[0].name
    try:
        key = await issuing.create_demo_key(ctx, tg_id=tg_id, server=name, actor=actor)
    except Conflict:
        if (await users.get_user(tg_id)).has_demo:  # lost a race with itself
            raise TrialUsed(f"user {tg_id} already received a demo key", user=tg_id) from None
        raise
    return TrialOffer(key=key)


async def issue_user_key(
    ctx: Context, *, tg_id: int, server_id: int, actor: str, days: int = ISSUED_KEY_DAYS
) -> VPNKey:
    """A new key ("Key N") for ``tg_id`` on the server with id ``server_id`` (admin action;
    ``AUTO_SERVER_ID``: the least loaded one)."""
    name = registry.AUTO
    if server_id != AUTO_SERVER_ID:
        server = None
        if in_range(server_id, MAX_ROW_ID):
            server = await VPNServer.get_or_none(id=server_id)
        if server is None:
            raise NotFound(f"server {server_id} not found", server=server_id)
        name = server.name
    return await issuing.create_key(ctx, server=name, tg_id=tg_id, days=days, actor=actor)


async def user_overview(query: str | int) -> UserOverview:
    """A user found by id or ``@username``, with their live keys."""
    user = await users.find_user(str(query))
    keys, paid = await issuing.user_keys(user.id), await billing_payments.user_payments(user.id)
    return UserOverview(user=user, keys=keys, payments=paid)
