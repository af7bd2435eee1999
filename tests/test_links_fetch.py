"""Dynamic links: the API shows them, the app fetches its key's config or why it is cut."""

import base64
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db.models import VPNKey
from domain.links.signing import SECRET_LENGTH
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


async def test_the_link_has_an_unguessable_tag_of_128_bits_that_is_never_stored(
    link_api: Api,
) -> None:
    tags = []
    for key in [await link_api.new_key() for _ in range(2)]:
        row = await VPNKey.get(id=key["id"])
        secret = link_path(key["dynamic_url"]).rsplit("/", 1)[1]
        assert row.link_id and secret.startswith(row.link_id)
        tag = secret.removeprefix(row.link_id)
        assert len(base64.urlsafe_b64decode(tag + "==")) * 8 >= 128
        assert tag not in " ".join(str(value) for value in row.__dict__.values())
        tags.append(tag)
    assert tags[0] != tags[1]
    # The stored id alone is no link: with any other tag it answers what an unknown link does.
    _, unknown = await fetch(link_api.client, "/conf/" + "A" * SECRET_LENGTH)
    for _ in range(20):
        forged = row.link_id + secrets.token_urlsafe(16)[: len(tag)]
        assert await fetch(link_api.client, "/conf/" + forged) == (404, unknown)


async def test_without_public_url_keys_have_no_dynamic_url_and_no_link_answers(
    api: Api,
) -> None:
    await api.user(42)
    key = await api.new_key(tg_id=42)
    assert "dynamic_url" in key and key["dynamic_url"] is None
    [listed] = (await api.call("GET", "/api/user/42/vpn_keys/alpha/", expect=200))["vpn_keys"]
    assert listed["dynamic_url"] is None
    row = await VPNKey.get(id=key["id"])
    async with api.client.get(f"/conf/{row.link_id}{'A' * 22}") as response:
        assert response.status == 404


async def register(api: Api, tg_id: int, language: str) -> None:
    """A user whose Telegram language is ``language``."""
    user = {"id": tg_id, "first_name": "A", "last_name": None, "username": None,
            "language_code": language}  # fmt: skip
    await api.call("POST", "/api/user/", {"user": user}, expect=200)


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
    await register(link_api, 7, language)
    key = await link_api.new_key(tg_id=7, name="k", valid_until="2025-12-03T10:00:00Z")
    status, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert status == 200
    error = error_of(body)
    assert error["message"] == message
    assert error["details"].startswith(details)


@pytest.mark.parametrize(
    ("language", "message", "details"),
    [
        (
            "en",
            "Your key “k” has used all of its traffic.",
            "Open @vpnkeys_bot in Telegram to get",
        ),
        (
            "ru",
            "Ваш ключ «k» израсходовал весь трафик.",
            "Откройте @vpnkeys_bot в Telegram, чтобы",
        ),
    ],
)
async def test_an_over_quota_key_answers_that_its_traffic_is_used_up_until_it_gets_more(
    link_api: Api, language: str, message: str, details: str
) -> None:
    await register(link_api, 7, language)
    key = await link_api.new_key(tg_id=7, name="k", traffic_limit=0)
    status, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert (status, error_of(body)["message"]) == (200, message)
    assert error_of(body)["details"].startswith(details)
    await patch(link_api, key, {"command": "token_traffic_limit", "traffic_limit": 10 * 2**30})
    assert await answers_its_static_key(link_api, key)


@pytest.mark.parametrize(
    ("language", "message", "details"),
    [
        ("en", "Your key “k” has been disabled.", "Ask for help in @vpnkeys_bot on Telegram."),
        ("ru", "Ваш ключ «k» отключён.", "Обратитесь за помощью в @vpnkeys_bot в Telegram."),
    ],
)
async def test_a_disabled_key_answers_that_it_was_disabled_and_reopens_when_enabled(
    link_api: Api, language: str, message: str, details: str
) -> None:
    await register(link_api, 7, language)
    key = await link_api.new_key(tg_id=7, name="k")
    await patch(link_api, key, {"command": "token_is_active", "is_active": False})
    _, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert error_of(body) == {"message": message, "details": details}
    await patch(link_api, key, {"command": "token_is_active", "is_active": True})
    assert await answers_its_static_key(link_api, key)


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
