"""The switch step of a move (one transaction points the key at its new copy): a key changed
meanwhile is re-read or given up, and a database failure there leaves no orphan and never
a key without a working server."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from tortoise.exceptions import OperationalError

from api.app_keys import CONTEXT
from db.models import KeyMove, KeyState, MoveState, VPNKey
from domain.keys import moves
from domain.traffic.ledger import sync_traffic
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent, fetch_tunnel, static_tunnel
from vpn.emulator import OutlineEmulator

MOVE = {"command": "token_server", "server": "beta"}
SLOW_CREATE = 0.6  # beta acts and answers after this (within the app's 1 s Outline timeout)


@pytest.fixture
def servers(link_api: Api, link_beta: OutlineEmulator) -> dict[str, OutlineEmulator]:
    """Both emulators by name; unfinished work is stale at once for the reconciler."""
    link_api.client.app[CONTEXT].stale_after = timedelta(0)
    return {"alpha": link_api.emulator, "beta": link_beta}


async def slow_move(api: Api, key: dict[str, Any], expect: int) -> asyncio.Task:
    """Start moving ``key`` to beta, whose create is slow; return once it is under way."""
    moving = asyncio.create_task(
        api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", MOVE, expect=expect)
    )
    for _ in range(100):
        await asyncio.sleep(0.01)
        if await KeyMove.exists(key_id=key["id"], state=MoveState.PENDING):
            return moving
    raise AssertionError("the move did not start")


async def test_usage_booked_while_the_key_moves_is_re_read_and_counted_once(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    key = await link_api.new_key(name="k")
    link_api.emulator.add_traffic((await VPNKey.get(id=key["id"])).remote_id, 300)
    servers["beta"].faults.hang_next(seconds=SLOW_CREATE, method="PUT")
    moving = await slow_move(link_api, key, expect=200)
    await sync_traffic(link_api.client.app[CONTEXT])  # the ledger books the 300 bytes now
    row = await VPNKey.get(id=key["id"]).select_related("server")
    assert (row.server.name, row.traffic_used) == ("alpha", 300) and not moving.done()
    [moved] = (await moving)["vpn_keys"]
    assert moved["server"] == "beta" and moved["traffic_used"] == 300
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.DONE
    await assert_consistent(link_api, servers)


async def test_a_key_deleted_while_it_moves_gets_no_copy(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    key = await link_api.new_key(name="k")
    servers["beta"].faults.hang_next(seconds=SLOW_CREATE, method="PUT")
    moving = await slow_move(link_api, key, expect=409)
    # Changed behind the move's lease (another process, once the lease ran out).
    await VPNKey.filter(id=key["id"]).update(state=KeyState.DELETED)
    data = await moving
    assert data["details"] == f"key {key['id']} changed while it was being moved; try again"
    assert not servers["beta"].keys
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.ROLLED_BACK
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys  # the deleted key's copy was an orphan


@pytest.mark.parametrize("failing", ["traffic history", "audit"])
async def test_a_database_failure_at_the_switch_leaves_the_key_on_its_old_server(
    link_api: Api,
    servers: dict[str, OutlineEmulator],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    key = await link_api.new_key(name="k")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("the database went away")

    if failing == "audit":
        monkeypatch.setattr(moves.audit, "record", broken)
    else:
        monkeypatch.setattr(moves.TrafficBucket, "filter", broken)
    ctx = link_api.client.app[CONTEXT]
    with pytest.raises(OperationalError):
        await moves.move_key(ctx, key_id=key["id"], server="alpha", target="beta", actor="t")
    monkeypatch.undo()
    row = await VPNKey.get(id=key["id"]).select_related("server")
    assert row.server.name == "alpha" and row.access_url == key["access_url"]
    assert row.remote_id in servers["alpha"].keys and len(servers["beta"].keys) == 1
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        key["access_url"]
    )
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.PENDING
    await assert_consistent(link_api, servers)  # the reconciler deletes beta's copy
    assert not servers["beta"].keys
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.ROLLED_BACK
    moved = await moves.move_key(ctx, key_id=key["id"], server="alpha", target="beta", actor="t")
    assert moved.server.name == "beta" and not await VPNKey.exists(state=KeyState.CREATING)
    await assert_consistent(link_api, servers)
