"""Moves under server faults at every step: the key keeps working where it was or where it
went, the reconciler finds every leftover, and the dynamic link always answers."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from api.app_keys import CONTEXT
from db.models import KeyMove, MoveState, VPNKey
from domain.keys import installation, remote
from domain.keys.reconcile import reconcile
from domain.servers import registry
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent
from vpn.emulator import OutlineEmulator

HANG = 1.5  # longer than the app's 1 s Outline timeout
MOVE = {"command": "token_server", "server": "beta"}


async def move(api: Api, key: dict[str, Any], expect: int) -> dict[str, Any]:
    return await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", MOVE, expect=expect)


async def server_of(key: dict[str, Any]) -> str:
    return (await VPNKey.get(id=key["id"]).select_related("server")).server.name


@pytest.fixture
def servers(link_api: Api, link_beta: OutlineEmulator) -> dict[str, OutlineEmulator]:
    """Both emulators by name; unfinished work is stale at once for the reconciler."""
    link_api.client.app[CONTEXT].stale_after = timedelta(0)
    return {"alpha": link_api.emulator, "beta": link_beta}


@pytest.mark.parametrize(
    ("fault", "status"),
    [("fail_next", 502), ("hang_before_next", 504)],
)
async def test_a_failed_usage_read_on_the_old_server_changes_nothing(
    link_api: Api, servers: dict[str, OutlineEmulator], fault: str, status: int
) -> None:
    key = await link_api.new_key()
    getattr(link_api.emulator.faults, fault)(path_contains="/metrics/transfer", **(
        {"seconds": HANG} if fault == "hang_before_next" else {}
    ))  # fmt: skip
    await move(link_api, key, expect=status)
    assert await server_of(key) == "alpha" and not servers["beta"].keys
    assert not await KeyMove.exists()
    await assert_consistent(link_api, servers)


@pytest.mark.parametrize(
    ("fault", "times", "status"),
    [("fail_next", 1, 502), ("hang_before_next", 10, 504), ("fail_next", 10, 502)],
)
async def test_a_failed_create_on_the_new_server_leaves_the_key_where_it_was(
    link_api: Api, servers: dict[str, OutlineEmulator], fault: str, times: int, status: int
) -> None:
    key = await link_api.new_key()
    options = {"seconds": HANG} if fault.startswith("hang") else {}
    getattr(servers["beta"].faults, fault)(times, method="PUT", **options)
    await move(link_api, key, expect=status)
    assert await server_of(key) == "alpha"
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.ROLLED_BACK
    await assert_consistent(link_api, servers)
    assert not servers["beta"].keys


@pytest.mark.parametrize("fault", ["hang_next", "drop_next"])
async def test_a_create_whose_answer_was_lost_is_settled_and_the_move_completes(
    link_api: Api, servers: dict[str, OutlineEmulator], fault: str
) -> None:
    key = await link_api.new_key()
    options = {"seconds": HANG} if fault == "hang_next" else {}
    getattr(servers["beta"].faults, fault)(method="PUT", **options)
    [moved] = (await move(link_api, key, expect=200))["vpn_keys"]
    assert moved["server"] == "beta" and await server_of(key) == "beta"
    await asyncio.sleep(HANG - 0.9 if fault == "hang_next" else 0)
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys and len(servers["beta"].keys) == 1


async def test_a_move_that_cannot_be_undone_is_rolled_back_by_the_reconciler(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    key = await link_api.new_key()
    servers["beta"].faults.fail_next(method="PUT")  # the create fails
    servers["beta"].faults.fail_next(10, method="DELETE")  # and so does its undo
    await move(link_api, key, expect=502)
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.PENDING
    servers["beta"].faults.clear()
    await assert_consistent(link_api, servers)
    assert not servers["beta"].keys and await server_of(key) == "alpha"
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.ROLLED_BACK


@pytest.mark.parametrize("fault", ["fail_next", "drop_next", "hang_next"])
async def test_an_old_copy_that_cannot_be_deleted_is_deleted_by_the_reconciler(
    link_api: Api, servers: dict[str, OutlineEmulator], fault: str
) -> None:
    key = await link_api.new_key()
    options = {"seconds": HANG} if fault == "hang_next" else {}
    getattr(link_api.emulator.faults, fault)(method="DELETE", **options)
    [moved] = (await move(link_api, key, expect=200))["vpn_keys"]
    assert moved["server"] == "beta"
    await asyncio.sleep(HANG - 0.9 if fault == "hang_next" else 0)
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys


async def crashed_before_the_switch(api: Api, key: dict[str, Any]) -> KeyMove:
    """What a process killed after creating the copy on beta leaves: a pending move."""
    row = await VPNKey.get(id=key["id"]).select_related("server")
    beta = await registry.get_server("beta")
    pending = await KeyMove.create(
        key=row, from_server=row.server, from_remote_id=row.remote_id, to_server=beta,
        to_remote_id=(await installation.key_ids()).new(), actor="t",
    )  # fmt: skip
    client = remote.backend(api.client.app[CONTEXT], beta)
    await client.create_key(pending.to_remote_id, name=row.name, limit=None)
    return pending


async def test_a_crash_between_the_copy_and_the_switch_is_rolled_back(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    key = await link_api.new_key()
    await crashed_before_the_switch(link_api, key)
    await assert_consistent(link_api, servers)
    assert not servers["beta"].keys and await server_of(key) == "alpha"


async def test_a_fresh_pending_move_is_left_alone_by_the_reconciler(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    link_api.client.app[CONTEXT].stale_after = timedelta(minutes=5)
    pending = await crashed_before_the_switch(link_api, await link_api.new_key())
    [_, report] = await reconcile(link_api.client.app[CONTEXT])
    assert report.server == "beta" and not report.orphans_deleted and not report.rolled_back
    assert pending.to_remote_id in servers["beta"].keys
