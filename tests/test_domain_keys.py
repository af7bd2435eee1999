"""Issuing, refreshing, binding and changing keys against the emulator over HTTP."""

import asyncio
from datetime import timedelta

import pytest

from db.models import InactiveReason, KeyState, User, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.errors import Conflict, Invalid, NotFound
from domain.keys import changes, issuing
from domain.servers import registry
from domain.settings import GIB
from tests.checks import assert_consistent

ACTOR = "api:test"


@pytest.fixture
async def user(server) -> User:
    return await users.upsert_user(UserProfile(id=100, username="ann"), actor=ACTOR)


async def test_demo_key_is_issued_once_with_demo_defaults(
    ctx: Context, user, outline_server
) -> None:
    key = await issuing.create_demo_key(ctx, tg_id=100, server="alpha", actor=ACTOR)
    assert key.is_demo and key.state == KeyState.LIVE and key.owner_id == 100
    assert key.access_url and key.access_url.startswith("ss://")
    assert key.valid_until is not None
    assert abs(key.valid_until - ctx.now() - timedelta(days=7)) < timedelta(minutes=1)
    assert outline_server.emulator.key_limit(key.remote_id) == GIB
    with pytest.raises(Conflict):
        await issuing.create_demo_key(ctx, tg_id=100, server="alpha", actor=ACTOR)
    assert len(outline_server.emulator.keys) == 1


async def test_concurrent_demo_requests_give_one_key(ctx: Context, user, outline_server) -> None:
    results = await asyncio.gather(
        *(issuing.create_demo_key(ctx, tg_id=100, server="alpha", actor=ACTOR) for _ in range(8)),
        return_exceptions=True,
    )
    issued = [r for r in results if isinstance(r, VPNKey)]
    assert len(issued) == 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, VPNKey))
    assert len(outline_server.emulator.keys) == 1
    assert await VPNKey.filter(owner_id=100).count() == 1


async def test_demo_for_unknown_user_or_server_is_not_found(ctx: Context, user) -> None:
    with pytest.raises(NotFound):
        await issuing.create_demo_key(ctx, tg_id=101, server="alpha", actor=ACTOR)
    with pytest.raises(NotFound):
        await issuing.create_demo_key(ctx, tg_id=100, server="beta", actor=ACTOR)


async def test_disabled_server_refuses_new_keys(ctx: Context, user) -> None:
    await registry.set_server_active("alpha", False, actor=ACTOR)
    with pytest.raises(Conflict):
        await issuing.create_demo_key(ctx, tg_id=100, server="alpha", actor=ACTOR)
    assert (await users.get_user(100)).demo_issued_at is None


async def test_new_key_takes_days_limit_and_name(ctx: Context, user, outline_server) -> None:
    key = await issuing.create_key(
        ctx, server="alpha", actor=ACTOR, tg_id=100, name="office", days=30, traffic_limit=5000
    )
    assert key.name == "office" and not key.is_demo and key.traffic_limit == 5000
    remote = outline_server.emulator.keys[key.remote_id]
    assert remote.name == "office"
    assert outline_server.emulator.key_limit(key.remote_id) == 5000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": 3, "valid_until": "soon"},
        {"traffic_limit": -1},
        {"name": ""},
        {"name": "x" * 101},
    ],
)
async def test_bad_new_key_input_is_invalid(ctx: Context, user, outline_server, kwargs) -> None:
    if kwargs.get("valid_until") == "soon":
        kwargs["valid_until"] = ctx.now()
    with pytest.raises(Invalid):
        await issuing.create_key(ctx, server="alpha", actor=ACTOR, **kwargs)
    assert not outline_server.emulator.keys


async def test_refresh_carries_usage_over(ctx: Context, user, outline_server) -> None:
    old = await issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=100, traffic_limit=1000)
    outline_server.emulator.add_traffic(old.remote_id, 300)
    new = await issuing.refresh_key(ctx, key_id=old.id, server="alpha", actor=ACTOR)
    assert new.previous_id == old.id and new.owner_id == 100 and new.name == old.name
    assert new.access_url != old.access_url and new.traffic_used == 300
    assert outline_server.emulator.key_limit(new.remote_id) == 700
    assert old.remote_id not in outline_server.emulator.keys
    await old.refresh_from_db()
    assert old.state == KeyState.DELETED and old.deleted_at is not None
    with pytest.raises(Conflict):
        await issuing.refresh_key(ctx, key_id=old.id, server="alpha", actor=ACTOR)


async def test_refresh_on_the_wrong_server_is_not_found(ctx: Context, user) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    with pytest.raises(NotFound):
        await issuing.refresh_key(ctx, key_id=key.id, server="beta", actor=ACTOR)
    with pytest.raises(NotFound):
        await issuing.refresh_key(ctx, key_id=key.id + 1000, server="alpha", actor=ACTOR)


async def test_binding_a_taken_key_needs_force(ctx: Context, user) -> None:
    await users.upsert_user(UserProfile(id=200), actor=ACTOR)
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    assert (
        await issuing.bind_key(key_id=key.id, server="alpha", tg_id=100, actor=ACTOR)
    ).owner_id == 100
    with pytest.raises(Conflict):
        await issuing.bind_key(key_id=key.id, server="alpha", tg_id=200, actor=ACTOR)
    bound = await issuing.bind_key(
        key_id=key.id, server="alpha", tg_id=200, force=True, actor=ACTOR
    )
    assert bound.owner_id == 200
    with pytest.raises(NotFound):
        await issuing.bind_key(key_id=key.id, server="alpha", tg_id=300, actor=ACTOR)


async def test_deactivate_cuts_and_activate_restores_the_limit(
    ctx: Context, user, outline_server
) -> None:
    emulator = outline_server.emulator
    limited = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=4096)
    free = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    for key, before in ((limited, 4096), (free, None)):
        off = await changes.set_active(
            ctx, key_id=key.id, server="alpha", is_active=False, actor=ACTOR
        )
        assert (off.is_active, off.inactive_reason) == (False, InactiveReason.MANUAL)
        assert emulator.key_limit(key.remote_id) == 0
        await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=True, actor=ACTOR)
        assert emulator.key_limit(key.remote_id) == before


async def test_rename_changes_the_server_name(ctx: Context, user, outline_server) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    await changes.rename_key(ctx, key_id=key.id, server="alpha", name=" new ", actor=ACTOR)
    assert outline_server.emulator.keys[key.remote_id].name == "new"
    with pytest.raises(Invalid):
        await changes.rename_key(ctx, key_id=key.id, server="alpha", name=" ", actor=ACTOR)


async def test_limit_below_usage_cuts_and_raising_it_reopens(
    ctx: Context, user, outline_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=1000)
    await VPNKey.filter(id=key.id).update(traffic_used=600)
    cut = await changes.set_traffic_limit(
        ctx, key_id=key.id, server="alpha", traffic_limit=500, actor=ACTOR
    )
    assert (cut.is_active, cut.inactive_reason) == (False, InactiveReason.TRAFFIC)
    assert outline_server.emulator.key_limit(key.remote_id) == 0
    with pytest.raises(Conflict):
        await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=True, actor=ACTOR)
    opened = await changes.set_traffic_limit(
        ctx, key_id=key.id, server="alpha", traffic_limit=2000, actor=ACTOR
    )
    assert opened.is_active and opened.inactive_reason is None
    assert outline_server.emulator.key_limit(key.remote_id) == 1400


async def test_expiry_in_the_past_cuts_and_a_future_one_reopens(
    ctx: Context, user, outline_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=100)
    past = ctx.now() - timedelta(days=1)
    cut = await changes.set_valid_until(
        ctx, key_id=key.id, server="alpha", valid_until=past, actor=ACTOR
    )
    assert cut.inactive_reason == InactiveReason.EXPIRED
    assert outline_server.emulator.key_limit(key.remote_id) == 0
    reopened = await changes.extend_key(ctx, key_id=key.id, server="alpha", days=30, actor=ACTOR)
    assert reopened.is_active and reopened.valid_until is not None
    assert reopened.valid_until > ctx.now() + timedelta(days=29)
    assert outline_server.emulator.key_limit(key.remote_id) == 100


async def test_manual_disable_survives_extension(ctx: Context, user) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=False, actor=ACTOR)
    extended = await changes.extend_key(ctx, key_id=key.id, server="alpha", days=5, actor=ACTOR)
    assert extended.inactive_reason == InactiveReason.MANUAL


async def test_naive_expiry_and_bad_days_are_invalid(ctx: Context, user) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    with pytest.raises(Invalid):
        naive = ctx.now().replace(tzinfo=None)
        await changes.set_valid_until(
            ctx, key_id=key.id, server="alpha", valid_until=naive, actor=ACTOR
        )
    with pytest.raises(Invalid):
        await changes.extend_key(ctx, key_id=key.id, server="alpha", days=0, actor=ACTOR)


async def test_delete_removes_the_server_key_and_keeps_history(
    ctx: Context, server, user, outline_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=100)
    await changes.delete_key(ctx, key_id=key.id, server="alpha", actor=ACTOR)
    assert key.remote_id not in outline_server.emulator.keys
    assert (await VPNKey.get(id=key.id)).state == KeyState.DELETED
    assert await issuing.user_keys(100) == []
    with pytest.raises(Conflict):
        await changes.delete_key(ctx, key_id=key.id, server="alpha", actor=ACTOR)
    await assert_consistent(server, outline_server.emulator)


async def test_user_keys_lists_live_keys_of_one_server(ctx: Context, user) -> None:
    first = await issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=100)
    await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    listed = await issuing.user_key_rows(100, "alpha")
    assert [k["id"] for k in listed] == [first.id] and listed[0]["server"] == "alpha"
    with pytest.raises(NotFound, match="server 'beta'"):
        await issuing.user_key_rows(100, "beta")
    with pytest.raises(NotFound, match="user 999"):
        await issuing.user_key_rows(999, "beta")
    with pytest.raises(NotFound):
        await issuing.user_keys(999)


async def test_a_key_issued_already_expired_is_cut(ctx: Context, user, outline_server) -> None:
    past = ctx.now() - timedelta(hours=1)
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, valid_until=past)
    assert (key.is_active, key.inactive_reason) == (False, InactiveReason.EXPIRED)
    assert outline_server.emulator.key_limit(key.remote_id) == 0


async def test_refresh_keeps_the_reset_strategy(ctx: Context, user) -> None:
    old = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=10)
    started = ctx.now()
    await VPNKey.filter(id=old.id).update(traffic_reset="monthly", period_started_at=started)
    new = await issuing.refresh_key(ctx, key_id=old.id, server="alpha", actor=ACTOR)
    assert (new.traffic_reset, new.period_started_at) == ("monthly", started)
