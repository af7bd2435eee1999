"""Dynamic links under a flood: unknown and deleted links look alike, the limit holds."""

import asyncio
import secrets
from collections import Counter
from typing import Any

import pytest

from domain.links.signing import SECRET_LENGTH
from domain.settings import Settings
from tests.api_fixtures import Api
from tests.conftest import SECRET_MARKERS
from tests.link_fixtures import fetch, link_path

PROXY = "127.0.0.1"


@pytest.fixture
def link_overrides() -> dict[str, Any]:
    """Links with a limit of 100 fetches a minute per client, behind a proxy on loopback."""
    return {"link_fetches_per_minute": 100, "trusted_proxies": PROXY}


def unknown_path() -> str:
    secret = secrets.token_urlsafe(SECRET_LENGTH)[:SECRET_LENGTH]
    SECRET_MARKERS.append(secret)
    return f"/conf/{secret}"


async def deleted_and_live_paths(api: Api, n: int) -> tuple[list[str], list[str]]:
    """Links of ``n`` deleted keys, ``n`` refreshed-away keys and ``n`` live keys."""
    deleted, live = [], []
    for _ in range(n):
        gone = await api.new_key()
        await api.call("DELETE", f"/api/vpn_token/{gone['id']}/alpha/", expect=200)
        deleted.append(link_path(gone["dynamic_url"]))
        old = await api.new_key()
        body = {"command": "refresh_token"}
        data = await api.call(
            "POST", f"/api/vpn_token/{old['id']}/refresh/alpha/", body, expect=201
        )
        deleted.append(link_path(old["dynamic_url"]))
        live.append(link_path(data["vpn_keys"][0]["dynamic_url"]))
    return deleted, live


async def test_a_thousand_fetches_never_tell_an_unknown_link_from_a_deleted_one(
    link_api: Api,
) -> None:
    deleted, live = await deleted_and_live_paths(link_api, 5)
    plan = [("unknown", unknown_path()) for _ in range(600)]
    plan += [("deleted", deleted[i % len(deleted)]) for i in range(300)]
    plan += [("live", live[i % len(live)]) for i in range(100)]

    async def one(i: int, kind: str, path: str) -> tuple[str, int, str]:
        # A different client each time (through the trusted proxy): the limit stays out of it.
        client = f"10.{i // 250}.{i % 250}.1"
        status, body = await fetch(link_api.client, path, **{"X-Forwarded-For": client})
        return kind, status, body

    answers = await asyncio.gather(*(one(i, kind, path) for i, (kind, path) in enumerate(plan)))
    seen = Counter((kind, status) for kind, status, _ in answers)
    assert seen == {("unknown", 404): 600, ("deleted", 404): 300, ("live", 200): 100}
    bodies = {body for kind, _, body in answers if kind != "live"}
    assert len(bodies) == 1


async def test_one_client_gets_its_limit_of_fetches_a_minute_and_then_429(link_api: Api) -> None:
    _, [live] = await deleted_and_live_paths(link_api, 1)
    paths = [live if i % 2 else unknown_path() for i in range(1000)]
    answers = await asyncio.gather(*(fetch(link_api.client, path) for path in paths))
    statuses = Counter(status for status, _ in answers)
    assert statuses[429] == 900 and statuses[200] + statuses[404] == 100
    status, _ = await fetch(link_api.client, live, **{"X-Forwarded-For": "198.51.100.7"})
    assert status == 200  # another client behind the proxy


async def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(
    link_api: Api, link_settings: Settings
) -> None:
    link_settings.trusted_proxies = frozenset()
    for i in range(100):
        await fetch(link_api.client, unknown_path(), **{"X-Forwarded-For": f"198.51.100.{i}"})
    status, _ = await fetch(link_api.client, unknown_path(), **{"X-Forwarded-For": "192.0.2.1"})
    assert status == 429


async def test_the_forwarded_address_nearest_the_proxy_counts_not_a_client_supplied_one(
    link_api: Api,
) -> None:
    for i in range(100):  # the client claims 100 addresses; the proxy appends the real one
        await fetch(
            link_api.client, unknown_path(), **{"X-Forwarded-For": f"10.0.0.{i}, 192.0.2.9"}
        )
    status, _ = await fetch(link_api.client, unknown_path(), **{"X-Forwarded-For": "192.0.2.9"})
    assert status == 429
