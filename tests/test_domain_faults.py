"""A failing server at every step changes nothing, and leaves nothing behind once the
reconciler has run."""

import asyncio
from collections.abc import Awaitable

import pytest

from db.models import InactiveReason, KeyState, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.errors import ServerTimeout, ServerUnavailable
from domain.keys import changes, installation, issuing, outcomes, remote
from domain.keys.reconcile import reconcile
from tests.checks import assert_consistent

ACTOR = "api:test"
HANG = 1.5  # longer than the pool's 1 s timeout


def inject(emulator, fault: str, *, method: str, path: str) -> None:
    """``status``: one 500 answer; ``down``: every try times out, the server never acts.

    (A server that acts and loses its answer is settled: see test_api_outcomes.py.)
    """
    if fault == "status":
        emulator.faults.fail_next(1, 500, method=method, path_contains=path)
    else:
        emulator.faults.hang_before_next(
            outcomes.ATTEMPTS, HANG, method=method, path_contains=path
        )


async def expect_failure(fault: str, op: Awaitable[object]) -> None:
    expected = ServerTimeout if fault == "down" else ServerUnavailable
    with pytest.raises(expected):
        await op
    if fault == "down":
        await asyncio.sleep(HANG)  # let the server finish what it started


FAULTS = ["status", "down"]


@pytest.fixture
async def owner(server) -> int:
    await users.upsert_user(UserProfile(id=100), actor=ACTOR)
    return 100


@pytest.mark.parametrize("fault", FAULTS)
async def test_failed_create_leaves_no_orphan(
    ctx: Context, server, owner, outline_server, fault
) -> None:
    inject(outline_server.emulator, fault, method="PUT", path="/access-keys/")
    await expect_failure(fault, issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=owner))
    await reconcile(ctx)
    await assert_consistent(server, outline_server.emulator)
    assert not await VPNKey.filter(state=KeyState.LIVE).exists()


@pytest.mark.parametrize("fault", FAULTS)
async def test_failed_demo_can_be_asked_again(
    ctx: Context, server, owner, outline_server, fault
) -> None:
    inject(outline_server.emulator, fault, method="PUT", path="/access-keys/")
    await expect_failure(
        fault, issuing.create_demo_key(ctx, tg_id=owner, server="alpha", actor=ACTOR)
    )
    await reconcile(ctx)
    await assert_consistent(server, outline_server.emulator)
    assert (await users.get_user(owner)).demo_issued_at is None
    key = await issuing.create_demo_key(ctx, tg_id=owner, server="alpha", actor=ACTOR)
    assert key.state == KeyState.LIVE


REFRESH_STEPS = [
    ("GET", "/metrics/transfer"),
    ("PUT", "/access-keys/"),
    ("DELETE", "{old}"),
]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("method", "path"), REFRESH_STEPS)
async def test_failed_refresh_changes_nothing(
    ctx: Context, server, owner, outline_server, fault, method, path
) -> None:
    old = await issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=owner, traffic_limit=10)
    inject(outline_server.emulator, fault, method=method, path=path.format(old=old.remote_id))
    await expect_failure(
        fault, issuing.refresh_key(ctx, key_id=old.id, server="alpha", actor=ACTOR)
    )
    await reconcile(ctx)
    await assert_consistent(server, outline_server.emulator)
    live = await VPNKey.filter(state=KeyState.LIVE)
    assert [k.id for k in live] == [old.id]
    assert outline_server.emulator.keys[old.remote_id]  # back, if a drop had deleted it
    assert outline_server.emulator.key_limit(old.remote_id) == 10


@pytest.mark.parametrize("fault", FAULTS)
async def test_failed_delete_keeps_the_key_live(
    ctx: Context, server, owner, outline_server, fault
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, tg_id=owner)
    access_url = key.access_url
    inject(outline_server.emulator, fault, method="DELETE", path=key.remote_id)
    await expect_failure(
        fault, changes.delete_key(ctx, key_id=key.id, server="alpha", actor=ACTOR)
    )
    assert (await VPNKey.get(id=key.id)).state == KeyState.LIVE
    await reconcile(ctx)
    await assert_consistent(server, outline_server.emulator)
    assert outline_server.emulator.keys[key.remote_id].access_url == access_url


@pytest.mark.parametrize("fault", FAULTS)
async def test_failed_deactivate_keeps_database_and_server_agreeing(
    ctx: Context, server, owner, outline_server, fault
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=2048)
    inject(outline_server.emulator, fault, method="PUT", path="/data-limit")
    off = changes.set_active(ctx, key_id=key.id, server="alpha", is_active=False, actor=ACTOR)
    await expect_failure(fault, off)
    stored = await VPNKey.get(id=key.id)
    assert stored.is_active and stored.inactive_reason is None
    await reconcile(ctx)
    await assert_consistent(server, outline_server.emulator)
    assert outline_server.emulator.key_limit(key.remote_id) == 2048


async def test_reconcile_deletes_orphans_and_leaves_foreign_keys(
    ctx: Context, server, outline_server
) -> None:
    client = remote.backend(ctx, server)
    orphan = (await installation.key_ids()).new()
    await client.create_key(orphan, name="lost", limit=None)
    await client.create_key("12", name="theirs", limit=None)
    reports = await reconcile(ctx, dry_run=True)
    assert reports[0].orphans_deleted == [orphan]
    assert orphan in outline_server.emulator.keys
    await reconcile(ctx)
    assert set(outline_server.emulator.keys) == {"12"}


async def test_reconcile_recreates_a_lost_key_with_the_same_url(
    ctx: Context, server, outline_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, traffic_limit=77)
    del outline_server.emulator.keys[key.remote_id]
    (report,) = await reconcile(ctx)
    assert report.recreated == [key.id]
    assert outline_server.emulator.keys[key.remote_id].access_url == key.access_url
    assert outline_server.emulator.key_limit(key.remote_id) == 77


async def test_reconcile_reapplies_drifted_name_and_limit(
    ctx: Context, server, outline_server
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, name="mine")
    await changes.set_active(ctx, key_id=key.id, server="alpha", is_active=False, actor=ACTOR)
    client = remote.backend(ctx, server)
    await client.rename_key(key.remote_id, "tampered")
    await client.set_limit(key.remote_id, None)
    (report,) = await reconcile(ctx)
    assert report.reapplied == [key.id]
    assert outline_server.emulator.keys[key.remote_id].name == "mine"
    assert outline_server.emulator.key_limit(key.remote_id) == 0
    assert (await VPNKey.get(id=key.id)).inactive_reason == InactiveReason.MANUAL


async def test_unreachable_server_is_reported_not_raised(
    ctx: Context, server, outline_server
) -> None:
    outline_server.emulator.faults.fail_next(1, 503, path_contains="/access-keys")
    (report,) = await reconcile(ctx)
    assert report.error and "alpha" in report.error
