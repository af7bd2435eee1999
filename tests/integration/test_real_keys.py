"""Every key operation of the domain against the real Outline server, checked on the server
and, where it matters, with real Shadowsocks traffic through the key."""

from datetime import timedelta

import pytest

from db.models import InactiveReason, KeyState, VPNKey, VPNServer
from domain import audit
from domain.accounts import users
from domain.context import Context
from domain.errors import Conflict
from domain.keys import changes, issuing, remote
from tests.integration.conftest import RealOutline
from vpn.backends import RemoteKey
from vpn.errors import VpnNotFound


async def on_server(ctx: Context, key: VPNKey) -> RemoteKey:
    """The key as the real server holds it."""
    server = await VPNServer.get(id=key.server_id)
    return await remote.backend(ctx, server).get_key(key.remote_id)


async def test_a_new_key_is_on_the_server_with_its_name_limit_and_access_url(
    real_server: VPNServer, ctx: Context
) -> None:
    key = await issuing.create_key(
        ctx, server="real", name="laptop", traffic_limit=10**9, actor=audit.CLI
    )
    held = await on_server(ctx, key)
    assert (held.name, held.limit, held.access_url) == ("laptop", 10**9, key.access_url)
    assert key.state == KeyState.LIVE


async def test_the_demo_key_is_issued_once_with_its_allowance_and_carries_traffic(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    await users.upsert_user(users.UserProfile(id=501, username="ann"), actor=audit.CLI)
    key = await issuing.create_demo_key(ctx, tg_id=501, server="real", actor=audit.CLI)
    assert (await on_server(ctx, key)).limit == ctx.demo_traffic_bytes
    with pytest.raises(Conflict):
        await issuing.create_demo_key(ctx, tg_id=501, server="real", actor=audit.CLI)
    assert await VPNKey.filter(owner_id=501).count() == 1
    assert await real_outline.passes(key.access_url or "")


async def test_refresh_stops_the_old_access_url_and_the_new_one_passes(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    old = await issuing.create_key(ctx, server="real", name="phone", actor=audit.CLI)
    assert await real_outline.passes(old.access_url or "")
    new = await issuing.refresh_key(ctx, key_id=old.id, server="real", actor=audit.CLI)
    assert new.access_url != old.access_url
    assert await real_outline.refuses(old.access_url or "")
    assert await real_outline.passes(new.access_url or "")
    with pytest.raises(VpnNotFound):
        await on_server(ctx, old)
    assert (await on_server(ctx, new)).name == "phone"


async def test_a_key_issued_with_no_allowance_is_cut_from_its_first_byte(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await issuing.create_key(
        ctx, server="real", name="empty", traffic_limit=0, actor=audit.CLI
    )
    assert key.inactive_reason == InactiveReason.TRAFFIC
    assert (await on_server(ctx, key)).limit == 0
    assert await real_outline.refuses(key.access_url or "")


async def test_refreshing_a_disabled_key_gives_a_new_key_that_is_cut_too(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    old = await issuing.create_key(ctx, server="real", name="off", actor=audit.CLI)
    await changes.set_active(ctx, key_id=old.id, server="real", is_active=False, actor=audit.CLI)
    new = await issuing.refresh_key(ctx, key_id=old.id, server="real", actor=audit.CLI)
    assert new.inactive_reason == InactiveReason.MANUAL
    assert await real_outline.refuses(new.access_url or "")


async def test_binding_a_key_to_a_user_leaves_the_server_key_as_it_was(
    real_server: VPNServer, ctx: Context
) -> None:
    await users.upsert_user(users.UserProfile(id=502), actor=audit.CLI)
    key = await issuing.create_key(ctx, server="real", name="spare", actor=audit.CLI)
    before = await on_server(ctx, key)
    bound = await issuing.bind_key(key_id=key.id, server="real", tg_id=502, actor=audit.CLI)
    assert bound.owner_id == 502
    assert await on_server(ctx, key) == before


async def test_an_expired_key_is_cut_and_extending_it_reopens_it(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await issuing.create_key(
        ctx, server="real", name="trip", traffic_limit=10**9, actor=audit.CLI
    )
    past = ctx.now() - timedelta(minutes=1)
    cut = await changes.set_valid_until(
        ctx, key_id=key.id, server="real", valid_until=past, actor=audit.CLI
    )
    assert cut.inactive_reason == InactiveReason.EXPIRED
    assert (await on_server(ctx, key)).limit == 0
    assert await real_outline.refuses(key.access_url or "")
    opened = await changes.extend_key(ctx, key_id=key.id, server="real", days=30, actor=audit.CLI)
    assert opened.is_active and opened.valid_until is not None and opened.valid_until > ctx.now()
    assert (await on_server(ctx, key)).limit == 10**9
    assert await real_outline.passes(key.access_url or "")


@pytest.mark.parametrize("name", ["work phone", "Рабочий телефон 📱", "x" * 100])
async def test_renaming_a_key_renames_it_on_the_server(
    real_server: VPNServer, ctx: Context, name: str
) -> None:
    key = await issuing.create_key(ctx, server="real", name="old", actor=audit.CLI)
    await changes.rename_key(ctx, key_id=key.id, server="real", name=name, actor=audit.CLI)
    assert (await on_server(ctx, key)).name == name
    assert (await issuing.live_key(key.id)).name == name


async def test_a_traffic_limit_is_held_on_the_server_and_removing_it_removes_it_there(
    real_server: VPNServer, ctx: Context
) -> None:
    key = await issuing.create_key(ctx, server="real", name="capped", actor=audit.CLI)
    assert (await on_server(ctx, key)).limit is None
    await changes.set_traffic_limit(
        ctx, key_id=key.id, server="real", traffic_limit=5 * 10**9, actor=audit.CLI
    )
    assert (await on_server(ctx, key)).limit == 5 * 10**9
    await changes.set_traffic_limit(
        ctx, key_id=key.id, server="real", traffic_limit=None, actor=audit.CLI
    )
    assert (await on_server(ctx, key)).limit is None


async def test_a_disabled_key_refuses_real_traffic_and_enabling_it_lets_traffic_pass(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await issuing.create_key(ctx, server="real", name="toggle", actor=audit.CLI)
    other = await issuing.create_key(ctx, server="real", name="bystander", actor=audit.CLI)
    assert await real_outline.passes(key.access_url or "")
    off = await changes.set_active(
        ctx, key_id=key.id, server="real", is_active=False, actor=audit.CLI
    )
    assert off.inactive_reason == InactiveReason.MANUAL
    assert (await on_server(ctx, key)).limit == 0
    assert await real_outline.refuses(key.access_url or "")
    assert await real_outline.passes(other.access_url or "")
    await changes.set_active(ctx, key_id=key.id, server="real", is_active=True, actor=audit.CLI)
    assert (await on_server(ctx, key)).limit is None
    assert await real_outline.passes(key.access_url or "")


async def test_a_deleted_key_is_gone_from_the_server_and_refuses_traffic(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    key = await issuing.create_key(ctx, server="real", name="gone", actor=audit.CLI)
    await changes.delete_key(ctx, key_id=key.id, server="real", actor=audit.CLI)
    with pytest.raises(VpnNotFound):
        await on_server(ctx, key)
    assert (await VPNKey.get(id=key.id)).state == KeyState.DELETED
    assert await real_outline.refuses(key.access_url or "")
