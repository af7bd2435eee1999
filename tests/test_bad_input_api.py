"""Hostile or careless input over real HTTP: every value is bounded where it enters, absent
optional fields read as null, and nothing a client sends is ever answered with a 500."""

import asyncio
import json
import logging
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


# --- what reaches the logs --------------------------------------------------------------


async def raw_request(api: Api, head: bytes) -> tuple[int, dict[str, Any]]:
    """Send ``head`` as-is (aiohttp's client refuses malformed headers); status and JSON."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head)
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]


async def test_a_token_in_the_query_string_never_reaches_the_access_log(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    await api.user(42)
    auth = {"Authorization": f"Bearer {api.token}"}
    for path in (f"/api/user/42/?token={api.token}", f"/api/nothing?token={api.token}&a=b"):
        async with api.client.get(path, headers=auth) as resp:
            assert resp.status in (200, 404)
    lines = access_lines(caplog)
    assert any(" GET /api/user/{tg_id}/ 200 " in line for line in lines), lines
    assert any(" GET /api/nothing 404 " in line for line in lines), lines
    assert not [line for line in lines if "?" in line or "token" in line]


async def test_the_access_log_shows_route_templates_and_elides_long_unknown_segments(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    key = await api.new_key()
    await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha", valid_date(days=1), expect=200)
    secret = "Zx9" * 12
    await api.call("GET", f"/files/{secret}/extra", expect=404)
    lines = access_lines(caplog)
    assert any(" PATCH /api/vpn_token/{id}/{srv_name} 200 " in line for line in lines), lines
    assert any(" GET /files/…/extra 404 " in line for line in lines), lines
    assert not [line for line in lines if secret in line or str(key["id"]) + "/" in line]


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer %s\x00x",
        b"Authorization: Bearer %s\x01",
        b"Authorization : Bearer %s",
        b"Authorization: Bearer %s\r\n  folded",
        b"Authorization: Bearer %s" + b"x" * 9000,
        b"Author\xffization: Bearer %s",
    ],
)
async def test_a_malformed_header_is_a_400_envelope_and_never_logged(
    api: Api, header: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    line = header.replace(b"%s", api.token.encode())
    status, body = await raw_request(
        api, b"GET /api/user/1/ HTTP/1.1\r\nHost: x\r\n" + line + b"\r\n\r\n"
    )
    assert (status, body) == (400, {"status": 400, "details": "malformed HTTP request"})
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert await api.user(1)  # the server goes on serving


async def test_a_token_in_an_overlong_request_line_is_never_logged(api: Api) -> None:
    target = f"/api/user/1/?token={api.token}&pad={'x' * 9000}"
    status, body = await raw_request(api, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 400 and body["status"] == 400
