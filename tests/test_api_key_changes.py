"""API rows 8-12: expiry, activity, name, traffic limit, deletion; VPN server failures."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.models import AuditEvent, InactiveReason, VPNKey
from domain.keys import outcomes
from domain.servers import registry
from domain.settings import GIB
from tests.api_fixtures import Api

HANG = 1.5  # longer than the app's 1 s Outline timeout


async def remote(api: Api, key: dict[str, Any]):
    return api.emulator.keys[(await VPNKey.get(id=key["id"])).remote_id]


async def patch(api: Api, key: dict[str, Any], body: dict[str, Any], expect: int = 200) -> dict:
    data = await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", body, expect=expect)
    return data["vpn_keys"][0] if expect == 200 else data


def valid_date(**fields: Any) -> dict[str, Any]:
    return {"command": "token_valid_date", **fields}


async def test_a_bare_date_sets_expiry_to_the_end_of_that_utc_day(api: Api) -> None:
    key = await api.new_key()
    changed = await patch(api, key, valid_date(valid_until="2031-03-15"))
    assert changed["valid_until"] == "2031-03-16T00:00:00Z"


async def test_a_date_time_with_an_offset_is_stored_in_utc(api: Api) -> None:
    key = await api.new_key()
    changed = await patch(api, key, valid_date(valid_until="2031-03-15T12:00:00-03:00"))
    assert changed["valid_until"] == "2031-03-15T15:00:00Z"


async def test_a_null_valid_until_clears_the_expiry(api: Api) -> None:
    key = await api.new_key(days=3)
    assert (await patch(api, key, valid_date(valid_until=None)))["valid_until"] is None


async def test_days_extend_from_the_current_expiry_when_it_is_later(api: Api) -> None:
    key = await api.new_key(valid_until="2031-01-01T00:00:00Z")
    assert (await patch(api, key, valid_date(days=10)))["valid_until"] == "2031-01-11T00:00:00Z"


async def test_days_extend_from_now_when_the_key_has_expired(api: Api) -> None:
    key = await api.new_key(valid_until="2020-01-01")
    changed = await patch(api, key, valid_date(days=10))
    delta = datetime.fromisoformat(changed["valid_until"]) - datetime.now(UTC)
    assert timedelta(days=9, hours=23) < delta <= timedelta(days=10)
    assert changed["is_active"] is True and changed["inactive_reason"] is None


async def test_a_past_date_cuts_the_key_and_a_future_one_reopens_it(api: Api) -> None:
    key = await api.new_key()
    expired = await patch(api, key, valid_date(valid_until="2020-01-01"))
    assert (expired["is_active"], expired["inactive_reason"]) == (False, "expired")
    assert (await remote(api, key)).limit == 0
    reopened = await patch(api, key, valid_date(valid_until="2040-01-01"))
    assert (reopened["is_active"], reopened["inactive_reason"]) == (True, None)
    assert (await remote(api, key)).limit is None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"valid_until": "2031-01-01", "days": 3},
        {"days": None},
        {"days": 0},
        {"days": "3"},
        {"valid_until": "2031-01-01T00:00:00"},
        {"valid_until": "0001-01-01T00:00:00+01:00"},
        {"valid_until": 1700000000},
    ],
)
async def test_an_invalid_expiry_is_a_400_and_changes_nothing(api: Api, fields) -> None:
    key = await api.new_key(days=3)
    await patch(api, key, valid_date(**fields), expect=400)
    assert (
        (await VPNKey.get(id=key["id"]))
        .valid_until.isoformat()
        .startswith(key["valid_until"][:19])
    )


async def test_disabling_cuts_the_key_on_the_server_and_enabling_restores_it(api: Api) -> None:
    key = await api.new_key(traffic_limit=3 * GIB)
    off = await patch(api, key, {"command": "token_is_active", "is_active": False})
    assert (off["is_active"], off["inactive_reason"]) == (False, "manual")
    assert (await remote(api, key)).limit == 0
    on = await patch(api, key, {"command": "token_is_active", "is_active": True})
    assert (on["is_active"], on["inactive_reason"]) == (True, None)
    assert (await remote(api, key)).limit == 3 * GIB


async def test_enabling_an_expired_key_is_a_409(api: Api) -> None:
    key = await api.new_key()
    await patch(api, key, valid_date(valid_until="2020-01-01"))
    await patch(api, key, {"command": "token_is_active", "is_active": True}, expect=409)


async def test_renaming_changes_the_name_here_and_on_the_server(api: Api) -> None:
    key = await api.new_key(name="old")
    assert (await patch(api, key, {"command": "token_name", "name": "new"}))["name"] == "new"
    assert (await remote(api, key)).name == "new"


@pytest.mark.parametrize("name", ["", "  ", "x" * 101, None, 5])
async def test_an_invalid_name_is_a_400(api: Api, name) -> None:
    key = await api.new_key(name="old")
    data = await patch(api, key, {"command": "token_name", "name": name}, expect=400)
    assert data["errors"][0]["field"] == "name"
    assert (await remote(api, key)).name == "old"


async def test_the_traffic_limit_is_set_and_removed(api: Api) -> None:
    key = await api.new_key()
    body = {"command": "token_traffic_limit", "traffic_limit": 2 * GIB}
    assert (await patch(api, key, body))["traffic_limit"] == 2 * GIB
    assert (await remote(api, key)).limit == 2 * GIB
    body = {"command": "token_traffic_limit", "traffic_limit": None}
    assert (await patch(api, key, body))["traffic_limit"] is None
    assert (await remote(api, key)).limit is None


@pytest.mark.parametrize("limit", [-1, 2**53, "1", 1.5, True])
async def test_an_invalid_traffic_limit_is_a_400(api: Api, limit) -> None:
    key = await api.new_key()
    body = {"command": "token_traffic_limit", "traffic_limit": limit}
    data = await patch(api, key, body, expect=400)
    assert data["errors"][0]["field"] == "traffic_limit"


async def test_a_missing_traffic_limit_field_is_a_400(api: Api) -> None:
    key = await api.new_key()
    await patch(api, key, {"command": "token_traffic_limit"}, expect=400)


@pytest.mark.parametrize("body", [{}, {"command": "rename"}, {"command": None}, [], "x"])
async def test_an_unknown_command_lists_the_four_allowed_ones(api: Api, body) -> None:
    key = await api.new_key()
    data = await patch(api, key, body, expect=400)
    for command in ("token_valid_date", "token_is_active", "token_name", "token_traffic_limit"):
        assert command in data["details"] or isinstance(body, (list, str))


async def test_a_key_not_on_the_named_server_is_a_404(api: Api, beta) -> None:
    key = await api.new_key()
    body = {"command": "token_name", "name": "x"}
    data = await api.call("PATCH", f"/api/vpn_token/{key['id']}/beta/", body, expect=404)
    assert "beta" in data["details"]
    await api.call("PATCH", "/api/vpn_token/999/alpha/", body, expect=404)
    await api.call("DELETE", f"/api/vpn_token/{key['id']}/beta/", expect=404)


async def test_a_change_on_a_disabled_server_is_a_409(api: Api) -> None:
    key = await api.new_key()
    await registry.set_server_active("alpha", False, actor="cli")
    await patch(api, key, {"command": "token_name", "name": "x"}, expect=409)


async def test_deleting_removes_the_key_from_the_server_and_keeps_history(api: Api) -> None:
    key = await api.new_key()
    data = await api.call("DELETE", f"/api/vpn_token/{key['id']}/alpha/", expect=200)
    assert set(data) == {"status", "details"}
    assert api.emulator.keys == {}
    assert (await VPNKey.get(id=key["id"])).deleted_at is not None
    actors = await AuditEvent.filter(action="key.deleted").values_list("actor", flat=True)
    assert actors == ["api:tests"]


async def test_changing_or_deleting_a_deleted_key_is_a_409(api: Api) -> None:
    key = await api.new_key()
    await api.call("DELETE", f"/api/vpn_token/{key['id']}/alpha/", expect=200)
    await api.call("DELETE", f"/api/vpn_token/{key['id']}/alpha/", expect=409)
    await patch(api, key, {"command": "token_name", "name": "x"}, expect=409)


# --- the VPN server fails ---------------------------------------------------------------

# A 500 answer, and a server that takes every call but never answers in time nor acts.
# (Lost answers of a server that did act are in test_api_outcomes.py.)
FAULTS = {"status": 502, "down": 504}
CHANGES = [
    ("PATCH", {"command": "token_name", "name": "renamed"}, "/name"),
    ("PATCH", {"command": "token_traffic_limit", "traffic_limit": 1}, "/data-limit"),
    ("PATCH", {"command": "token_is_active", "is_active": False}, "/data-limit"),
    ("DELETE", None, "/access-keys/"),
]


def inject(api: Api, fault: str, method: str, path: str) -> None:
    faults = api.emulator.faults
    if fault == "status":
        faults.fail_next(1, 500, method=method, path_contains=path)
    else:
        faults.hang_before_next(outcomes.ATTEMPTS, HANG, method=method, path_contains=path)


async def snapshot() -> list[dict[str, Any]]:
    return await VPNKey.all().order_by("id").values()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize(("method", "body", "remote_path"), CHANGES)
async def test_a_failing_server_gives_502_or_504_and_changes_nothing(
    api: Api, fault: str, method: str, body, remote_path: str
) -> None:
    key = await api.new_key(name="kept", traffic_limit=GIB)
    before = await snapshot()
    remote_method = "DELETE" if method == "DELETE" else "PUT"
    inject(api, fault, remote_method, remote_path)
    path = f"/api/vpn_token/{key['id']}/alpha/"
    data = await api.call(method, path, body, expect=FAULTS[fault])
    assert "'alpha'" in data["details"]
    assert api.client.app is not None
    assert await snapshot() == before
    if fault == "down":
        await asyncio.sleep(HANG - 1)  # let the emulator finish the hung call


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_failing_server_on_create_gives_502_or_504_and_no_key(api: Api, fault) -> None:
    await api.user(42)
    inject(api, fault, "PUT", "/access-keys/")
    demo = {"command": "create_demo_token"}
    data = await api.call("POST", "/api/vpn_token/42/alpha/", demo, expect=FAULTS[fault])
    assert "'alpha'" in data["details"]
    assert not await VPNKey.filter(state="live").exists()
    user = await api.call("GET", "/api/user/42/", expect=200)
    assert user["user"]["has_demo"] is False
    if fault == "down":
        await asyncio.sleep(HANG - 1)


async def test_error_details_never_carry_the_servers_secret_url(api: Api, outline_server) -> None:
    key = await api.new_key()
    api.emulator.faults.fail_next(1, 500)
    data = await patch(api, key, {"command": "token_name", "name": "x"}, expect=502)
    secret = outline_server.api_url.rsplit("/", 1)[1]
    assert secret not in str(data) and "127.0.0.1" not in str(data)
    assert (await VPNKey.get(id=key["id"])).inactive_reason is None
    assert InactiveReason  # the model's enum is what the API renders
