"""Hostile or careless input over real HTTP: every value is bounded where it enters, absent
optional fields read as null, and nothing a client sends is ever answered with a 500."""

from typing import Any

import pytest

from db.models import VPNKey
from tests.api_fixtures import Api

TWENTY_DIGITS = "9" * 20


def valid_date(**fields: Any) -> dict[str, Any]:
    return {"command": "token_valid_date", **fields}


async def test_extending_by_36500_days_again_and_again_stops_with_a_400_at_year_8999(
    api: Api,
) -> None:
    key = await api.new_key()
    path = f"/api/vpn_token/{key['id']}/alpha/"
    for _ in range(80):  # 80 centuries from now is far past 8999
        resp = await api.client.patch(
            path, json=valid_date(days=36500), headers={"Authorization": f"Bearer {api.token}"}
        )
        if resp.status != 200:
            break
        last = (await resp.json())["vpn_keys"][0]["valid_until"]
    assert resp.status == 400, await resp.text()
    data = await resp.json()
    assert data["details"] == "the expiry would pass the year 8999"
    assert data["errors"] == [{"field": "days", "message": data["details"]}]
    assert "8899" < last < "9000"
    stored = await VPNKey.get(id=key["id"])
    assert stored.valid_until is not None and stored.valid_until.year == int(last[:4])


async def test_a_day_more_on_the_last_day_of_8999_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    key = await api.new_key(valid_until="8999-12-31")
    assert key["valid_until"] == "9000-01-01T00:00:00Z"
    path = f"/api/vpn_token/{key['id']}/alpha/"
    data = await api.call("PATCH", path, valid_date(days=1), expect=400)
    assert "8999" in data["details"]
    assert (await VPNKey.get(id=key["id"])).valid_until.isoformat() == "9000-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    "fields",
    [
        {"valid_until": "9000-01-01"},
        {"valid_until": "9999-12-31T23:59:59+00:00"},
        {"valid_until": "0001-01-01"},
        {"days": 10**30},
        {"days": 36501},
        {"days": 0},
    ],
)
async def test_an_expiry_beyond_the_bounds_is_a_400_on_create_and_on_change(
    api: Api, fields: dict[str, Any]
) -> None:
    create = {"command": "create_new_token", **fields}
    await api.call("POST", "/api/vpn_token/alpha/", create, expect=400)
    key = await api.new_key()
    await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", valid_date(**fields), expect=400)
    assert await VPNKey.all().count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/user/{TWENTY_DIGITS}/"),
        ("GET", f"/api/user/{TWENTY_DIGITS}/vpn_keys/alpha/"),
        ("POST", f"/api/vpn_token/{TWENTY_DIGITS}/alpha/"),
        ("POST", f"/api/vpn_token/{TWENTY_DIGITS}/refresh/alpha/"),
        ("PATCH", f"/api/vpn_token/{TWENTY_DIGITS}/alpha/"),
        ("PATCH", f"/api/vpn_token/1/user/{TWENTY_DIGITS}/alpha/"),
        ("PATCH", f"/api/vpn_token/{TWENTY_DIGITS}/user/1/alpha/"),
        ("DELETE", f"/api/vpn_token/{TWENTY_DIGITS}/alpha/"),
    ],
)
async def test_a_twenty_digit_id_in_any_path_is_a_400(api: Api, method: str, path: str) -> None:
    body = {"command": "token_name", "name": "x"}
    data = await api.call(method, path, body, expect=400)
    assert data["errors"][0]["field"] in ("id", "tg_id", "token_id")


@pytest.mark.parametrize(
    "body",
    [
        {"command": "create_new_token", "tg_id": int(TWENTY_DIGITS)},
        {"command": "create_new_token", "traffic_limit": 2**63},
        {"command": "create_new_token", "traffic_limit": 10**400},
    ],
)
async def test_a_huge_number_in_a_body_is_a_400(api: Api, body: dict[str, Any]) -> None:
    await api.call("POST", "/api/vpn_token/alpha/", body, expect=400)
    assert await VPNKey.all().count() == 0


async def test_a_telegram_user_without_last_name_and_username_is_accepted_as_nulls(
    api: Api,
) -> None:
    # Telegram's User object leaves out the optional fields a user does not have.
    telegram = {"id": 77, "is_bot": False, "first_name": "Ann", "language_code": "en"}
    user = (await api.call("POST", "/api/user/", {"user": telegram}, expect=200))["user"]
    assert (user["first_name"], user["last_name"], user["username"]) == ("Ann", None, None)
    assert user["language_code"] == "en"
    await api.call("POST", "/api/user/", {"user": {**telegram, "username": "ann"}}, expect=200)
    user = (await api.call("POST", "/api/user/", {"user": {"id": 77}}, expect=200))["user"]
    assert (user["first_name"], user["username"], user["language_code"]) == (None, None, "en")


async def test_only_the_fields_a_command_changes_are_required(api: Api) -> None:
    key = await api.new_key()
    path = f"/api/vpn_token/{key['id']}/alpha/"
    for command, field in [
        ("token_is_active", "is_active"),
        ("token_name", "name"),
        ("token_traffic_limit", "traffic_limit"),
    ]:
        data = await api.call("PATCH", path, {"command": command}, expect=400)
        assert [e["field"] for e in data["errors"]] == [field]
    data = await api.call(
        "POST", "/api/vpn_token/alpha/", {"command": "create_new_token"}, expect=201
    )
    assert data["vpn_keys"][0]["valid_until"] is None
