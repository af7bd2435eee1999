"""Moving a key to another server (API ``token_server``): same id, link, usage, settings."""

from typing import Any

import pytest

from api.app_keys import CONTEXT
from db.models import AuditEvent, KeyMove, MoveState, VPNKey
from domain.errors import Invalid
from domain.servers import registry
from domain.settings import GIB
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent, fetch_tunnel, static_tunnel
from vpn.emulator import OutlineEmulator


def move(server: str) -> dict[str, str]:
    return {"command": "token_server", "server": server}


async def patch(api: Api, key: dict[str, Any], body: dict, expect: int, srv: str = "alpha"):
    return await api.call("PATCH", f"/api/vpn_token/{key['id']}/{srv}/", body, expect=expect)


async def test_a_moved_key_keeps_its_id_link_usage_and_settings_on_the_new_server(
    link_api: Api, link_beta: OutlineEmulator
) -> None:
    await link_api.user(42)
    key = await link_api.new_key(tg_id=42, name="phone", days=30, traffic_limit=10 * GIB)
    row = await VPNKey.get(id=key["id"])
    await VPNKey.filter(id=row.id).update(traffic_used=GIB)
    link_api.emulator.add_traffic(row.remote_id, 300)  # counted on alpha, not yet booked
    data = await patch(link_api, key, move("beta"), expect=200)
    [moved] = data["vpn_keys"]
    assert data["details"] == f"key {key['id']} moved to server 'beta'"
    assert moved["id"] == key["id"] and moved["server"] == "beta"
    assert moved["dynamic_url"] == key["dynamic_url"]
    assert moved["access_url"] != key["access_url"] and moved["traffic_used"] == GIB + 300
    same = ("name", "tg_id", "valid_until", "traffic_limit", "is_active", "is_demo")
    assert {f: moved[f] for f in same} == {f: key[f] for f in same}
    row = await VPNKey.get(id=key["id"])
    assert not link_api.emulator.keys and list(link_beta.keys) == [row.remote_id]
    assert link_beta.keys[row.remote_id].name == "phone"
    assert link_beta.key_limit(row.remote_id) == 9 * GIB - 300
    assert await fetch_tunnel(link_api.client, moved["dynamic_url"]) == static_tunnel(
        moved["access_url"]
    )
    event = await AuditEvent.get(action="key.moved")
    assert event.details == {"from": "alpha", "to": "beta"} and event.actor == "api:tests"
    assert (await KeyMove.get(key_id=key["id"])).state == MoveState.DONE
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})


async def test_a_moved_key_can_move_back_and_is_then_changed_on_its_new_server(
    link_api: Api, link_beta: OutlineEmulator
) -> None:
    key = await link_api.new_key(name="k")
    await patch(link_api, key, move("beta"), expect=200)
    await patch(link_api, key, {"command": "token_name", "name": "n"}, expect=404)
    await patch(link_api, key, {"command": "token_name", "name": "n"}, expect=200, srv="beta")
    [copy] = link_beta.keys.values()
    assert copy.name == "n"
    await patch(link_api, key, move("alpha"), expect=200, srv="beta")
    assert not link_beta.keys and len(link_api.emulator.keys) == 1
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})


async def test_auto_moves_a_key_to_the_other_server_with_the_fewest_keys(
    link_api: Api, link_beta: OutlineEmulator
) -> None:
    key = await link_api.new_key()
    [moved] = (await patch(link_api, key, move("auto"), expect=200))["vpn_keys"]
    assert moved["server"] == "beta"


async def test_a_move_to_its_own_an_unknown_or_a_disabled_server_is_refused(
    link_api: Api, link_beta: OutlineEmulator
) -> None:
    key = await link_api.new_key()
    assert (
        "already on server" in (await patch(link_api, key, move("alpha"), expect=400))["details"]
    )
    await patch(link_api, key, move("gamma"), expect=404)
    await registry.set_server_active("beta", False, actor="cli")
    await patch(link_api, key, move("beta"), expect=409)
    await patch(link_api, key, move("auto"), expect=409)
    await patch(link_api, key, move("beta"), expect=404, srv="beta")
    assert (await VPNKey.get(id=key["id"])).server_id == (await registry.get_server("alpha")).id
    assert not link_beta.keys and not await KeyMove.exists()


async def test_a_new_key_on_auto_goes_to_the_server_with_the_fewest_live_keys(
    link_api: Api, link_beta: OutlineEmulator
) -> None:
    await link_api.new_key(srv="alpha")
    key = await link_api.new_key(srv="auto")
    assert key["server"] == "beta"
    data = await link_api.call(
        "POST", "/api/vpn_token/auto/", {"command": "create_new_token"}, expect=201
    )
    assert data["details"] == f"key {data['vpn_keys'][0]['id']} created on server 'alpha'"
    await link_api.user(42)
    demo = await link_api.call(
        "POST", "/api/vpn_token/42/auto/", {"command": "create_demo_token"}, expect=201
    )
    assert demo["vpn_keys"][0]["server"] in ("alpha", "beta")


async def test_no_server_may_be_called_auto(link_api: Api) -> None:
    ctx = link_api.client.app[CONTEXT]
    with pytest.raises(Invalid, match="reserved"):
        await registry.add_server(ctx, name="auto", api_url="http://127.0.0.1:9/x", actor="t")
