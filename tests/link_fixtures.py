"""Helpers for dynamic-link tests: settings with PUBLIC_URL, fetching a link as the Outline
app does, and reading configs the way the app reads them."""

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from aiohttp.test_utils import TestClient

from api.app_keys import CONTEXT
from api.setup import build_app
from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.accounts import tokens
from domain.context import Context
from domain.keys import installation
from domain.keys.reconcile import reconcile
from domain.servers import registry
from domain.settings import Settings
from tests.api_fixtures import TOKEN_NAME, Api
from tests.conftest import SECRET_MARKERS
from vpn.emulator import OutlineEmulator, RunningEmulator, start_emulator

PUBLIC_URL = "https://vpn.example.com"
LINK_SECRET = "test-link-secret-" + "x" * 32
LINK_SETTINGS = {"public_url": PUBLIC_URL, "link_secret": LINK_SECRET}
SECRET_MARKERS.append("ssconf://")


@dataclass(frozen=True)
class Tunnel:
    """What the Outline app connects with: host, port, cipher and password."""

    host: str
    port: int
    cipher: str
    password: str


def static_tunnel(access_url: str) -> Tunnel:
    """A SIP002 ``ss://base64url(cipher:password)@host:port/…`` key, read as the app does."""
    parts = urlsplit(access_url)
    userinfo = unquote(parts.username or "")
    cipher, _, password = (
        base64.urlsafe_b64decode(userinfo + "=" * (-len(userinfo) % 4)).decode().partition(":")
    )
    assert parts.hostname and parts.port
    return Tunnel(parts.hostname, parts.port, cipher, password)


def dynamic_tunnel(body: str) -> Tunnel:
    """A fetched dynamic-key answer, read as Outline's client does (ss:// link or legacy JSON);
    an ``error`` object raises ``LookupError`` with its message and details."""
    body = body.strip()
    if body.startswith("ss://"):
        return static_tunnel(body)
    data = json.loads(body)
    if "error" in data:
        raise LookupError(data["error"]["message"], data["error"]["details"])
    return Tunnel(data["server"], int(data["server_port"]), data["method"], data["password"])


def link_path(dynamic_url: str) -> str:
    """The HTTPS path the app fetches for ``ssconf://HOST/PATH#name`` (the secret is logged
    nowhere: it is added to the test's secret markers)."""
    assert dynamic_url.startswith("ssconf://vpn.example.com/conf/"), dynamic_url
    path = urlsplit(dynamic_url.replace("ssconf://", "https://", 1)).path
    SECRET_MARKERS.append(path.rsplit("/", 1)[1])
    return path


async def fetch(client: TestClient, path: str, **headers: str) -> tuple[int, str]:
    """GET a link path as the app does; ``(status, body)``."""
    async with client.get(path, headers=headers) as response:
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, await response.text()


async def fetch_tunnel(client: TestClient, dynamic_url: str) -> Tunnel:
    """The tunnel a dynamic link gives now (the answer must be a 200)."""
    status, body = await fetch(client, link_path(dynamic_url))
    assert status == 200, body
    return dynamic_tunnel(body)


def error_of(body: str) -> dict[str, Any]:
    """The ``error`` object of an answer."""
    return json.loads(body)["error"]


@pytest.fixture
def link_overrides() -> dict[str, Any]:
    """Settings a test module changes for its ``link_api`` (override this fixture)."""
    return {}


@pytest.fixture
def link_settings(database_url: str, link_overrides: dict[str, Any]) -> Settings:
    """Settings of a test app with dynamic links (a fetch limit no ordinary test reaches)."""
    values: dict[str, Any] = {
        "outline_timeout_seconds": 1.0,
        "link_fetches_per_minute": 100_000,
        "bot_username": "vpnkeys_bot",
        **LINK_SETTINGS,
    }
    return Settings(_env_file=None, database_url=database_url, **(values | link_overrides))


@pytest.fixture
async def link_api(
    link_settings: Settings, outline_server: RunningEmulator, aiohttp_client
) -> Api:
    """Like ``api``, over ``link_settings``."""
    client = await aiohttp_client(build_app(link_settings))
    SECRET_MARKERS.append(urlsplit(outline_server.api_url).path)
    ctx = client.app[CONTEXT]
    await registry.add_server(ctx, name="alpha", api_url=outline_server.api_url, actor=audit.CLI)
    _, plaintext = await tokens.create_token(TOKEN_NAME, actor=audit.CLI)
    return Api(client, plaintext, outline_server.emulator)


async def another_server(ctx: Context, name: str) -> RunningEmulator:
    """A new emulated server registered as ``name``."""
    running = await start_emulator()
    SECRET_MARKERS.append(urlsplit(running.api_url).path)
    await registry.add_server(ctx, name=name, api_url=running.api_url, actor=audit.CLI)
    return running


@pytest.fixture
async def link_beta(link_api: Api) -> AsyncIterator[OutlineEmulator]:
    """A second emulated server registered as ``beta`` with ``link_api``."""
    running = await another_server(link_api.client.app[CONTEXT], "beta")
    yield running.emulator
    await running.stop()


async def assert_consistent(api: Api, servers: dict[str, OutlineEmulator]) -> None:
    """After a reconcile: no orphan on any server, no live key missing from its server, and
    every live key's dynamic link answering what its static key says."""
    await reconcile(api.client.app[CONTEXT])
    live = await VPNKey.filter(state=KeyState.LIVE).select_related("server")
    held = {(key.server.name, key.remote_id) for key in live}
    ids = await installation.key_ids()
    for name, emulator in servers.items():
        ours = {(name, key_id) for key_id in emulator.keys if ids.owns(key_id)}
        assert ours == {pair for pair in held if pair[0] == name}, f"orphan or missing on {name}"
    links = api.client.app[CONTEXT].links
    for key in live:
        assert key.access_url == servers[key.server.name].keys[key.remote_id].access_url
        if links is not None:
            answer = await fetch_tunnel(api.client, links.url(key) or "")
            assert answer == static_tunnel(key.access_url or "")


@pytest.fixture
async def link_gamma(link_api: Api) -> AsyncIterator[OutlineEmulator]:
    """A third emulated server registered as ``gamma`` with ``link_api``."""
    running = await another_server(link_api.client.app[CONTEXT], "gamma")
    yield running.emulator
    await running.stop()


@pytest.fixture
async def bot_beta(server: VPNServer, bot_ctx: Context) -> AsyncIterator[OutlineEmulator]:
    """A second emulated server registered as ``beta`` for bot tests."""
    running = await another_server(bot_ctx, "beta")
    yield running.emulator
    await running.stop()
