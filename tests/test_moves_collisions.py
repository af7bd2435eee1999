"""A move whose drawn id the target already holds: that key (someone else's) is never
deleted, the copy is made under another id, and a drain keeps using the target."""

from collections.abc import Callable
from datetime import timedelta

import pytest

from api.app_keys import CONTEXT
from db.models import KeyMove, MoveState, VPNKey
from domain import audit
from domain.keys import installation, provisioning
from domain.keys.reconcile import reconcile
from domain.servers import registry
from domain.servers.drain import drain_server
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent, fetch_tunnel, static_tunnel
from vpn.emulator import OutlineEmulator

MOVE = {"command": "token_server", "server": "beta"}
Draws = Callable[[list[str]], None]


@pytest.fixture
def draw_first(monkeypatch: pytest.MonkeyPatch) -> Draws:
    """Make the next key ids drawn be the given ones (then random ones again)."""

    def queue(ids: list[str]) -> None:
        real, pending = installation.KeyIds.new, list(ids)
        monkeypatch.setattr(
            installation.KeyIds, "new", lambda self: pending.pop(0) if pending else real(self)
        )

    return queue


@pytest.fixture
async def other(link_api: Api, link_beta: OutlineEmulator) -> dict:
    """Another user's key on beta, whose id the tests make the next move draw."""
    link_api.client.app[CONTEXT].stale_after = timedelta(0)
    await link_api.user(7)
    return await link_api.new_key(srv="beta", tg_id=7, name="someone else's")


async def remote_id(key: dict) -> str:
    return (await VPNKey.get(id=key["id"])).remote_id


async def assert_untouched(api: Api, beta: OutlineEmulator, key: dict) -> None:
    """The key is still on beta under its id, with its credentials, and its link answers."""
    held = beta.keys.get(await remote_id(key))
    assert held is not None, "another user's live key was deleted from beta"
    assert held.access_url == key["access_url"] and held.name == "someone else's"
    assert await fetch_tunnel(api.client, key["dynamic_url"]) == static_tunnel(key["access_url"])


async def test_a_move_onto_a_taken_id_leaves_that_key_and_uses_another_id(
    link_api: Api, link_beta: OutlineEmulator, other: dict, draw_first: Draws
) -> None:
    taken = await remote_id(other)
    key = await link_api.new_key(name="mover")
    draw_first([taken])
    data = await link_api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", MOVE, expect=200)
    [moved] = data["vpn_keys"]
    assert moved["server"] == "beta" and moved["dynamic_url"] == key["dynamic_url"]
    assert await remote_id(key) != taken and len(link_beta.keys) == 2
    await assert_untouched(link_api, link_beta, other)
    moves = await KeyMove.filter(key_id=key["id"]).order_by("id")
    assert [(m.to_remote_id == taken, m.state) for m in moves] == [
        (True, MoveState.ROLLED_BACK),
        (False, MoveState.DONE),
    ]
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})
    await assert_untouched(link_api, link_beta, other)


async def test_a_move_whose_every_draw_is_taken_fails_and_deletes_nothing(
    link_api: Api, link_beta: OutlineEmulator, other: dict, draw_first: Draws
) -> None:
    taken = await remote_id(other)
    key = await link_api.new_key(name="mover")
    draw_first([taken] * provisioning.STAGE_ATTEMPTS)
    data = await link_api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", MOVE, expect=502)
    assert "already has a key with the id drawn" in data["details"]
    assert list(link_beta.keys) == [taken]
    await assert_untouched(link_api, link_beta, other)
    row = await VPNKey.get(id=key["id"]).select_related("server")
    assert row.server.name == "alpha" and row.remote_id in link_api.emulator.keys
    states = await KeyMove.filter(key_id=key["id"]).values_list("state", flat=True)
    assert states == [MoveState.ROLLED_BACK] * provisioning.STAGE_ATTEMPTS
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})
    await assert_untouched(link_api, link_beta, other)


async def test_a_drain_keeps_a_target_that_only_held_the_ids_drawn_for_one_key(
    link_api: Api, link_beta: OutlineEmulator, other: dict, draw_first: Draws
) -> None:
    first, second = [await link_api.new_key(name=f"k{i}") for i in range(2)]
    draw_first([await remote_id(other)] * provisioning.STAGE_ATTEMPTS)
    ctx = link_api.client.app[CONTEXT]
    report = await drain_server(ctx, name="alpha", actor=audit.CLI, targets=["beta"])
    assert report.moved == {"beta": 1} and list(report.failed) == [first["id"]]
    assert (await VPNKey.get(id=second["id"]).select_related("server")).server.name == "beta"
    await assert_untouched(link_api, link_beta, other)
    again = await drain_server(ctx, name="alpha", actor=audit.CLI, targets=["beta"])
    assert again.complete and again.moved == {"beta": 1} and not again.failed
    await registry.set_server_active("alpha", True, actor="t")
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})
    await assert_untouched(link_api, link_beta, other)


async def test_a_stale_move_left_pending_on_a_taken_id_is_rolled_back_without_deleting(
    link_api: Api, link_beta: OutlineEmulator, other: dict
) -> None:
    key = await VPNKey.get(id=(await link_api.new_key(name="mover"))["id"])
    await key.fetch_related("server")
    await KeyMove.create(  # a process that died between the 409 and marking the move
        key=key, from_server=key.server, from_remote_id=key.remote_id,
        to_server=await registry.get_server("beta"), to_remote_id=await remote_id(other),
        actor="t",
    )  # fmt: skip
    reports = await reconcile(link_api.client.app[CONTEXT])
    assert [r.rolled_back for r in reports] == [[], [key.id]]
    assert (await KeyMove.get(key_id=key.id)).state == MoveState.ROLLED_BACK
    await assert_untouched(link_api, link_beta, other)
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})
