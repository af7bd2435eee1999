"""Dynamic links: the API shows them, the app fetches its key's config or why it is cut."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.models import VPNKey
from tests.api_fixtures import Api
from tests.link_fixtures import (
    dynamic_tunnel,
    error_of,
    fetch,
    fetch_tunnel,
    link_path,
    static_tunnel,
)


async def answers_its_static_key(api: Api, key: dict[str, Any]) -> bool:
    """Whether the key's link now gives what its static key gives."""
    return await fetch_tunnel(api.client, key["dynamic_url"]) == static_tunnel(key["access_url"])


async def patch(api: Api, key: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    data = await api.call("PATCH", f"/api/vpn_token/{key['id']}/alpha/", body, expect=200)
    return data["vpn_keys"][0]


async def test_the_link_answers_the_host_port_cipher_and_password_of_the_static_key(
    link_api: Api,
) -> None:
    key = await link_api.new_key(name="my phone")
    assert key["dynamic_url"].endswith("#my%20phone")
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        key["access_url"]
    )


async def test_every_key_listed_by_the_api_carries_its_link(link_api: Api) -> None:
    await link_api.user(42)
    key = await link_api.new_key(tg_id=42)
    [listed] = (await link_api.call("GET", "/api/user/42/vpn_keys/alpha/", expect=200))["vpn_keys"]
    assert listed["dynamic_url"] == key["dynamic_url"]


async def test_the_link_has_a_secret_of_at_least_128_bits_and_is_not_stored(link_api: Api) -> None:
    key = await link_api.new_key()
    secret = link_path(key["dynamic_url"]).rsplit("/", 1)[1]
    assert len(secret) * 6 >= 128 + 96
    row = await VPNKey.get(id=key["id"])
    stored = " ".join(str(value) for value in row.__dict__.values())
    assert row.link_id and secret.startswith(row.link_id) and secret not in stored


@pytest.mark.parametrize(
    ("language", "message", "details"),
    [
        ("en", "Your key “k” expired on 3 December 2025.", "Open @vpnkeys_bot in Telegram"),
        ("ru", "Срок действия вашего ключа «k» истёк 3 декабря 2025.", "Откройте @vpnkeys_bot"),
    ],
)
async def test_an_expired_key_answers_when_it_expired_in_the_owners_language(
    link_api: Api, language: str, message: str, details: str
) -> None:
    await link_api.call(
        "POST",
        "/api/user/",
        {"user": {"id": 7, "first_name": "A", "last_name": None, "username": None,
                  "language_code": language}},
        expect=200,
    )  # fmt: skip
    key = await link_api.new_key(tg_id=7, name="k", valid_until="2025-12-03T10:00:00Z")
    status, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert status == 200
    error = error_of(body)
    assert error["message"] == message
    assert error["details"].startswith(details)


async def test_an_over_quota_key_answers_that_its_traffic_is_used_up(link_api: Api) -> None:
    key = await link_api.new_key(name="k", traffic_limit=0)
    status, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert (status, error_of(body)["message"]) == (
        200,
        "Your key “k” has used all of its traffic.",
    )
    assert "get more traffic" in error_of(body)["details"]


async def test_a_disabled_key_answers_that_it_was_disabled_and_reopens_when_enabled(
    link_api: Api,
) -> None:
    key = await link_api.new_key(name="k")
    await patch(link_api, key, {"command": "token_is_active", "is_active": False})
    _, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert error_of(body)["message"] == "Your key “k” has been disabled."
    await patch(link_api, key, {"command": "token_is_active", "is_active": True})
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        key["access_url"]
    )


async def test_an_expired_key_answers_its_config_again_once_extended(link_api: Api) -> None:
    key = await link_api.new_key(name="k", valid_until="2020-01-01")
    with pytest.raises(LookupError):
        dynamic_tunnel((await fetch(link_api.client, link_path(key["dynamic_url"])))[1])
    await patch(link_api, key, {"command": "token_valid_date", "days": 30})
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        key["access_url"]
    )


async def test_a_key_past_its_expiry_answers_expired_before_the_worker_cuts_it(
    link_api: Api,
) -> None:
    key = await link_api.new_key(name="k", days=1)
    past = datetime.now(UTC) - timedelta(seconds=5)
    await VPNKey.filter(id=key["id"]).update(valid_until=past)
    _, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert error_of(body)["message"].startswith("Your key “k” expired on ")


async def test_refresh_gives_a_new_link_and_the_old_one_is_a_404(link_api: Api) -> None:
    old = await link_api.new_key()
    data = await link_api.call(
        "POST", f"/api/vpn_token/{old['id']}/refresh/alpha/", {"command": "refresh_token"},
        expect=201,
    )  # fmt: skip
    [new] = data["vpn_keys"]
    assert new["dynamic_url"] != old["dynamic_url"]
    assert await fetch_tunnel(link_api.client, new["dynamic_url"]) == static_tunnel(
        new["access_url"]
    )
    status, body = await fetch(link_api.client, link_path(old["dynamic_url"]))
    assert status == 404 and error_of(body)["message"] == "This access key does not exist."


async def test_a_forged_tag_or_a_malformed_secret_is_a_404(link_api: Api) -> None:
    key = await link_api.new_key()
    path = link_path(key["dynamic_url"])
    forged = path[:-1] + ("A" if path[-1] != "A" else "B")
    answers = {await fetch(link_api.client, p) for p in (forged, "/conf/x", "/conf/" + "é" * 38)}
    assert {status for status, _ in answers} == {404} and len({b for _, b in answers}) == 1
