"""API rows 4-7: demo key, refresh, new key, binding a key to a user."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from db.models import KeyState, VPNKey
from domain.servers import registry
from domain.settings import GIB
from tests.api_fixtures import Api

KEY_FIELDS = {
    "id", "server", "tg_id", "name", "access_url", "is_active", "inactive_reason", "is_demo",
    "valid_until", "traffic_limit", "traffic_used", "previous_id", "created_at", "updated_at",
    "dynamic_url",
}  # fmt: skip
UTC_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DEMO = {"command": "create_demo_token"}


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment)


async def remote_id(key_id: int) -> str:
    return (await VPNKey.get(id=key_id)).remote_id


async def test_a_demo_key_is_issued_with_the_demo_defaults(api: Api) -> None:
    await api.user(42, "ann")
    data = await api.call("POST", "/api/vpn_token/42/alpha/", DEMO, expect=201)
    [key] = data["vpn_keys"]
    assert set(key) == KEY_FIELDS
    assert (key["server"], key["tg_id"], key["is_demo"], key["is_active"]) == (
        "alpha",
        42,
        True,
        True,
    )
    assert key["traffic_limit"] == GIB and key["traffic_used"] == 0 and key["previous_id"] is None
    assert key["access_url"].startswith("ss://") and key["inactive_reason"] is None
    assert all(UTC_Z.match(key[f]) for f in ("valid_until", "created_at", "updated_at"))
    week = parse(key["valid_until"]) - datetime.now(UTC)
    assert timedelta(days=7) - timedelta(minutes=1) < week <= timedelta(days=7)
    assert api.emulator.key_limit(await remote_id(key["id"])) == GIB
    user = await api.call("GET", "/api/user/42/", expect=200)
    assert user["user"]["has_demo"] is True


async def test_a_second_demo_request_is_a_409(api: Api) -> None:
    await api.user(42)
    await api.call("POST", "/api/vpn_token/42/alpha/", DEMO, expect=201)
    data = await api.call("POST", "/api/vpn_token/42/alpha/", DEMO, expect=409)
    assert "demo" in data["details"]
    assert len(api.emulator.keys) == 1


async def test_eight_parallel_demo_requests_give_one_key_and_seven_409(api: Api) -> None:
    await api.user(42)

    async def ask() -> int:
        async with api.client.post(
            "/api/vpn_token/42/alpha/", json=DEMO, headers={"Authorization": f"Bearer {api.token}"}
        ) as resp:
            return resp.status

    statuses = await asyncio.gather(*(ask() for _ in range(8)))
    assert sorted(statuses) == [201] + [409] * 7
    assert len(api.emulator.keys) == 1
    assert await VPNKey.filter(owner_id=42).count() == 1


async def test_a_demo_for_an_unknown_user_or_server_is_a_404(api: Api) -> None:
    await api.user(42)
    await api.call("POST", "/api/vpn_token/43/alpha/", DEMO, expect=404)
    await api.call("POST", "/api/vpn_token/42/nowhere/", DEMO, expect=404)
    assert api.emulator.keys == {}


async def test_a_demo_on_a_disabled_server_is_a_409(api: Api) -> None:
    await api.user(42)
    await registry.set_server_active("alpha", False, actor="cli")
    data = await api.call("POST", "/api/vpn_token/42/alpha/", DEMO, expect=409)
    assert "disabled" in data["details"]


@pytest.mark.parametrize(
    "body", [{}, None, {"command": "create_new_token"}, {"command": 5}, {"cmd": "x"}]
)
async def test_a_missing_or_unknown_command_names_the_allowed_one(api: Api, body) -> None:
    await api.user(42)
    data = await api.call("POST", "/api/vpn_token/42/alpha/", body, expect=400)
    assert "create_demo_token" in data["details"]
    assert api.emulator.keys == {}


async def test_refresh_replaces_the_key_and_links_it_to_the_old_one(api: Api) -> None:
    await api.user(42)
    old = await api.new_key(tg_id=42, name="phone", days=30, traffic_limit=5 * GIB)
    old_remote = await remote_id(old["id"])
    body = {"command": "refresh_token"}
    data = await api.call("POST", f"/api/vpn_token/{old['id']}/refresh/alpha/", body, expect=201)
    [new] = data["vpn_keys"]
    assert new["id"] != old["id"] and new["previous_id"] == old["id"]
    assert new["access_url"] != old["access_url"]
    same = ("tg_id", "name", "is_demo", "valid_until", "traffic_limit", "server")
    assert {f: new[f] for f in same} == {f: old[f] for f in same}
    assert old_remote not in api.emulator.keys and await remote_id(new["id"]) in api.emulator.keys
    assert (await VPNKey.get(id=old["id"])).state == KeyState.DELETED


async def test_refreshing_a_deleted_key_is_a_409(api: Api) -> None:
    key = await api.new_key()
    await api.call("DELETE", f"/api/vpn_token/{key['id']}/alpha/", expect=200)
    path = f"/api/vpn_token/{key['id']}/refresh/alpha/"
    await api.call("POST", path, {"command": "refresh_token"}, expect=409)


async def test_refreshing_an_unknown_key_or_on_another_server_is_a_404(api: Api, beta) -> None:
    key = await api.new_key()
    body = {"command": "refresh_token"}
    await api.call("POST", f"/api/vpn_token/{key['id']}/refresh/beta/", body, expect=404)
    await api.call("POST", "/api/vpn_token/999/refresh/alpha/", body, expect=404)
    await api.call("POST", f"/api/vpn_token/{2**31}/refresh/alpha/", body, expect=400)
    data = await api.call("POST", f"/api/vpn_token/{key['id']}/refresh/alpha/", {}, expect=400)
    assert "refresh_token" in data["details"]


async def test_a_new_key_takes_owner_name_limit_and_days(api: Api) -> None:
    await api.user(42)
    key = await api.new_key(tg_id=42, name=" laptop ", days=30, traffic_limit=10 * GIB)
    assert (key["tg_id"], key["name"], key["traffic_limit"], key["is_demo"]) == (
        42, "laptop", 10 * GIB, False
    )  # fmt: skip
    month = parse(key["valid_until"]) - datetime.now(UTC)
    assert timedelta(days=29, hours=23) < month <= timedelta(days=30)
    remote = api.emulator.keys[await remote_id(key["id"])]
    assert (remote.name, remote.limit) == ("laptop", 10 * GIB)


async def test_a_new_key_without_options_is_unbound_and_unlimited(api: Api) -> None:
    key = await api.new_key()
    assert (key["tg_id"], key["valid_until"], key["traffic_limit"]) == (None, None, None)


async def test_a_bare_date_means_the_end_of_that_utc_day(api: Api) -> None:
    key = await api.new_key(valid_until="2030-12-31")
    assert key["valid_until"] == "2031-01-01T00:00:00Z"
    key = await api.new_key(valid_until="2030-06-01T12:30:00+02:00")
    assert key["valid_until"] == "2030-06-01T10:30:00Z"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"is_demo": True}, "is_demo"),
        ({"valid_until": "2030-01-01", "days": 3}, ""),
        ({"days": 0}, "days"),
        ({"days": 36501}, "days"),
        ({"traffic_limit": -1}, "traffic_limit"),
        ({"traffic_limit": "5"}, "traffic_limit"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"tg_id": 0}, "tg_id"),
        ({"valid_until": "2030-01-01T00:00:00"}, "valid_until"),
        ({"valid_until": "9999-12-31"}, "valid_until"),
        ({"valid_until": "2030-02-30"}, "valid_until"),
        ({"valid_until": "tomorrow"}, "valid_until"),
    ],
)
async def test_an_invalid_new_key_is_a_400(api: Api, fields, field) -> None:
    body = {"command": "create_new_token", **fields}
    data = await api.call("POST", "/api/vpn_token/alpha/", body, expect=400)
    assert field in [error["field"] for error in data["errors"]]
    assert api.emulator.keys == {}


async def test_a_new_key_for_an_unknown_user_or_server_is_a_404(api: Api) -> None:
    body = {"command": "create_new_token"}
    await api.call("POST", "/api/vpn_token/alpha/", {**body, "tg_id": 5}, expect=404)
    await api.call("POST", "/api/vpn_token/nowhere/", body, expect=404)
    assert api.emulator.keys == {}


async def test_binding_gives_an_unbound_key_to_a_user(api: Api) -> None:
    await api.user(42)
    key = await api.new_key()
    path = f"/api/vpn_token/{key['id']}/user/42/alpha/"
    data = await api.call("PATCH", path, {"command": "add_user_to_token"}, expect=200)
    assert data["vpn_keys"][0]["tg_id"] == 42
    listed = await api.call("GET", "/api/user/42/vpn_keys/alpha/", expect=200)
    assert [k["id"] for k in listed["vpn_keys"]] == [key["id"]]


async def test_taking_another_users_key_needs_force(api: Api) -> None:
    await api.user(42)
    await api.user(43)
    key = await api.new_key(tg_id=42)
    path = f"/api/vpn_token/{key['id']}/user/43/alpha/"
    await api.call("PATCH", path, {"command": "add_user_to_token"}, expect=409)
    body = {"command": "add_user_to_token", "force": True}
    assert (await api.call("PATCH", path, body, expect=200))["vpn_keys"][0]["tg_id"] == 43


async def test_binding_an_unknown_key_user_or_server_is_a_404(api: Api, beta) -> None:
    await api.user(42)
    key = await api.new_key()
    body = {"command": "add_user_to_token"}
    await api.call("PATCH", f"/api/vpn_token/{key['id']}/user/43/alpha/", body, expect=404)
    await api.call("PATCH", f"/api/vpn_token/{key['id']}/user/42/beta/", body, expect=404)
    await api.call("PATCH", "/api/vpn_token/999/user/42/alpha/", body, expect=404)
    data = await api.call("PATCH", f"/api/vpn_token/{key['id']}/user/42/alpha/", {}, expect=400)
    assert "add_user_to_token" in data["details"]
