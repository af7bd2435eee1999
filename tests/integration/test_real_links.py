"""Dynamic links and key moves on the real Outline server: a link keeps pointing at its key
while the key moves between an emulated server and the real one, and real traffic follows."""

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from api.app_keys import CONTEXT
from db.models import VPNServer
from domain.keys import remote
from tests.api_fixtures import Api
from tests.integration.conftest import RealOutline, registered
from tests.link_fixtures import Tunnel, error_of, fetch, fetch_tunnel, link_path, static_tunnel


@pytest.fixture
async def linked_real(link_api: Api, real_outline: RealOutline) -> AsyncIterator[VPNServer]:
    """The real server registered as ``real`` in the app of ``link_api`` (next to ``alpha``)."""
    async with registered(link_api.client.app[CONTEXT], real_outline) as server:
        yield server


def access_url_of(tunnel: Tunnel) -> str:
    """The ``ss://`` key a client would build from a fetched config."""
    userinfo = base64.urlsafe_b64encode(f"{tunnel.cipher}:{tunnel.password}".encode()).decode()
    return f"ss://{userinfo.rstrip('=')}@{tunnel.host}:{tunnel.port}/"


async def patch(api: Api, key: dict[str, Any], srv: str, body: dict[str, Any]) -> dict[str, Any]:
    [changed] = (await api.call("PATCH", f"/api/vpn_token/{key['id']}/{srv}/", body, expect=200))[
        "vpn_keys"
    ]
    return changed


async def held_on(api: Api, server: VPNServer) -> set[str]:
    """Ids of the keys the real server holds."""
    client = remote.backend(api.client.app[CONTEXT], server)
    return {key.id for key in await remote.call(server, client.list_keys())}


async def test_a_key_moved_onto_the_real_server_keeps_its_link_and_traffic_follows_it(
    link_api: Api, linked_real: VPNServer, real_outline: RealOutline
) -> None:
    key = await link_api.new_key(name="mover")
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        key["access_url"]
    )
    moved = await patch(link_api, key, "alpha", {"command": "token_server", "server": "real"})
    assert (moved["id"], moved["dynamic_url"]) == (key["id"], key["dynamic_url"])
    assert not link_api.emulator.keys
    on_real = await held_on(link_api, linked_real)
    tunnel = await fetch_tunnel(link_api.client, key["dynamic_url"])
    assert tunnel == static_tunnel(moved["access_url"])
    assert await real_outline.passes(access_url_of(tunnel))

    back = await patch(link_api, key, "real", {"command": "token_server", "server": "alpha"})
    assert await fetch_tunnel(link_api.client, key["dynamic_url"]) == static_tunnel(
        back["access_url"]
    )
    assert await real_outline.refuses(moved["access_url"])
    assert len(on_real) == 1 and not on_real & await held_on(link_api, linked_real)
    assert len(link_api.emulator.keys) == 1


async def test_a_disabled_real_key_answers_why_and_its_link_works_again_when_enabled(
    link_api: Api, linked_real: VPNServer, real_outline: RealOutline
) -> None:
    key = await link_api.new_key(srv="real", name="cut")
    off = {"command": "token_is_active", "is_active": False}
    await patch(link_api, key, "real", off)
    status, body = await fetch(link_api.client, link_path(key["dynamic_url"]))
    assert (status, error_of(body)["message"]) == (200, "Your key “cut” has been disabled.")
    assert await real_outline.refuses(key["access_url"])
    await patch(link_api, key, "real", {"command": "token_is_active", "is_active": True})
    tunnel = await fetch_tunnel(link_api.client, key["dynamic_url"])
    assert await real_outline.passes(access_url_of(tunnel))
