"""API rows 1-3: create or update a user, read a user, list a user's keys on a server."""

import pytest

from db.models import AuditEvent
from tests.api_fixtures import Api

USER = {"id": 42, "first_name": "Ann", "last_name": None, "username": "ann"}


async def test_posting_a_user_creates_it_with_the_seed_details(api: Api) -> None:
    data = await api.call("POST", "/api/user/", {"user": USER}, expect=200)
    assert data["details"] == "create or update user successful"
    user = data["user"]
    assert {k: user[k] for k in USER} == USER
    assert user["has_demo"] is False and user["language_code"] is None
    assert user["created_at"].endswith("Z") and user["updated_at"].endswith("Z")


async def test_posting_the_user_again_updates_the_changed_fields(api: Api) -> None:
    await api.call("POST", "/api/user/", {"user": USER}, expect=200)
    changed = {**USER, "first_name": "Anna", "language_code": "ru"}
    data = await api.call("POST", "/api/user/", {"user": changed}, expect=200)
    assert (data["user"]["first_name"], data["user"]["language_code"]) == ("Anna", "ru")
    actions = await AuditEvent.filter(user_id=42).values_list("actor", "action")
    assert sorted(actions) == [("api:tests", "user.created"), ("api:tests", "user.updated")]


async def test_an_integral_float_id_is_an_integer_as_json_schema_says(api: Api) -> None:
    body = {"user": {**USER, "id": 42.0}}
    assert (await api.call("POST", "/api/user/", body, expect=200))["user"]["id"] == 42


async def test_extra_telegram_fields_of_the_user_are_ignored(api: Api) -> None:
    body = {"user": {**USER, "is_bot": False, "is_premium": True}}
    assert (await api.call("POST", "/api/user/", body, expect=200))["user"]["id"] == 42


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user"),
        ({"user": {"first_name": "A", "last_name": None, "username": None}}, "user.id"),
        ({"user": {**USER, "id": "42"}}, "user.id"),
        ({"user": {**USER, "id": 0}}, "user.id"),
        ({"user": {**USER, "id": 2**53}}, "user.id"),
        ({"user": {**USER, "id": 2**64}}, "user.id"),
        ({"user": {**USER, "id": 4.2}}, "user.id"),
        ({"user": {**USER, "first_name": "x" * 257}}, "user.first_name"),
        ({"user": {**USER, "username": "a\x00b"}}, "user.username"),
        ({"user": {**USER, "last_name": 5}}, "user.last_name"),
        ({"user": [1, 2]}, "user"),
        ([USER], ""),
    ],
)
async def test_an_invalid_user_body_is_refused_field_by_field(api: Api, body, field) -> None:
    data = await api.call("POST", "/api/user/", body, expect=400)
    assert field in [error["field"] for error in data["errors"]]


@pytest.mark.parametrize("raw", [b"{", b"not json", b'{"user": "\\ud800"}', b"\xff\xfe"])
async def test_malformed_json_is_a_400(api: Api, raw: bytes) -> None:
    data = await api.call("POST", "/api/user/", raw=raw, expect=400)
    assert "JSON" in data["details"]


async def test_a_registered_user_is_returned(api: Api) -> None:
    await api.call("POST", "/api/user/", {"user": USER}, expect=200)
    data = await api.call("GET", "/api/user/42/", expect=200)
    assert data["user"]["username"] == "ann"


async def test_an_unknown_user_is_a_404(api: Api) -> None:
    data = await api.call("GET", "/api/user/43/", expect=404)
    assert "43" in data["details"]


@pytest.mark.parametrize("tg_id", ["0", str(2**53), str(2**64), "9" * 40])
async def test_a_user_id_out_of_range_is_a_400_not_a_500(api: Api, tg_id: str) -> None:
    data = await api.call("GET", f"/api/user/{tg_id}/", expect=400)
    assert data["errors"][0]["field"] == "tg_id"


@pytest.mark.parametrize("tg_id", ["abc", "-5", "1.5"])
async def test_a_non_integer_user_id_matches_no_route(api: Api, tg_id: str) -> None:
    await api.call("GET", f"/api/user/{tg_id}/", expect=404)


async def test_a_users_keys_are_listed_per_server(api: Api) -> None:
    await api.user(42)
    first = await api.new_key(tg_id=42, name="phone")
    await api.new_key(tg_id=42, name="laptop")
    await api.new_key(name="unbound")
    data = await api.call("GET", "/api/user/42/vpn_keys/alpha/", expect=200)
    assert [key["name"] for key in data["vpn_keys"]] == ["phone", "laptop"]
    assert data["vpn_keys"][0] == first


async def test_deleted_keys_are_not_listed(api: Api) -> None:
    await api.user(42)
    key = await api.new_key(tg_id=42)
    await api.call("DELETE", f"/api/vpn_token/{key['id']}/alpha/", expect=200)
    assert (await api.call("GET", "/api/user/42/vpn_keys/alpha/", expect=200))["vpn_keys"] == []


async def test_keys_of_an_unknown_user_or_server_are_a_404(api: Api) -> None:
    await api.user(42)
    await api.call("GET", "/api/user/7/vpn_keys/alpha/", expect=404)
    data = await api.call("GET", "/api/user/42/vpn_keys/nowhere/", expect=404)
    assert "nowhere" in data["details"]


async def test_a_malformed_server_name_is_a_400(api: Api) -> None:
    data = await api.call("GET", "/api/user/42/vpn_keys/Bad%20Name/", expect=400)
    assert data["errors"][0]["field"] == "srv_name"
