"""Fixtures for HTTP API tests: the real app over a fresh database, a token, the emulator."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app_keys import CONTEXT
from api.connections import ConnectionLimits
from api.responses import (
    AuditEnvelope,
    Envelope,
    ErrorEnvelope,
    KeysEnvelope,
    PaymentsEnvelope,
    PlansEnvelope,
    ReadyEnvelope,
    UserEnvelope,
)
from api.serving import ApiRunner
from api.setup import build_app
from domain import audit
from domain.accounts import tokens
from domain.servers import registry
from domain.settings import Settings
from tests.conftest import SECRET_MARKERS
from vpn.emulator import OutlineEmulator, RunningEmulator, start_emulator

TOKEN_NAME = "tests"


class ServiceServer(TestServer):
    """A test server that serves the app as ``main.py serve`` does: ``api.serving.ApiRunner``
    (its protocol, connection limits and access log), on a free 127.0.0.1 port."""

    def __init__(self, app: web.Application, limits: ConnectionLimits | None = None) -> None:
        super().__init__(app)
        self.limits = limits or ConnectionLimits(max_connections=100, header_timeout=10.0)

    async def _make_runner(self, **kwargs: Any) -> ApiRunner:
        return ApiRunner(self.app, limits=self.limits, **kwargs)


def envelope_of(status: int, data: dict[str, Any]) -> type[Envelope]:
    """The response model documented for this answer."""
    if "database" in data:
        return ReadyEnvelope
    if status >= 400:
        return ErrorEnvelope
    if "events" in data:
        return AuditEnvelope
    for field, model in (("plans", PlansEnvelope), ("payments", PaymentsEnvelope)):
        if field in data:
            return model
    return UserEnvelope if "user" in data else KeysEnvelope if "vpn_keys" in data else Envelope


@dataclass
class Api:
    """A client of the running app, holding a valid token and the emulated server ``alpha``."""

    client: TestClient
    token: str
    emulator: OutlineEmulator

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expect: int,
        auth: str | None = "",
        raw: bytes | None = None,
    ) -> dict[str, Any]:
        """Send a request; check the status and the envelope; return the JSON body.

        ``auth`` is the whole Authorization header (``None`` sends none; empty: our token).
        """
        headers = {} if auth is None else {"Authorization": auth or f"Bearer {self.token}"}
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        async with self.client.request(method, path, headers=headers, **kwargs) as resp:
            data = await resp.json()
            assert resp.status == expect, data
        shape = envelope_of(expect, data)
        shape.model_validate(data)
        assert set(data) <= set(shape.model_fields), data
        assert data["status"] == expect and data["details"]
        return data

    async def user(self, tg_id: int, username: str | None = None) -> dict[str, Any]:
        """Register a user through the API."""
        user = {"id": tg_id, "first_name": "U", "last_name": None, "username": username}
        return (await self.call("POST", "/api/user/", {"user": user}, expect=200))["user"]

    async def new_key(self, srv: str = "alpha", **fields: Any) -> dict[str, Any]:
        """Create a paid key through the API."""
        body = {"command": "create_new_token", **fields}
        data = await self.call("POST", f"/api/vpn_token/{srv}/", body, expect=201)
        return data["vpn_keys"][0]


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Settings for a test app: the fresh database, a 1 s Outline timeout, no ``.env``."""
    return Settings(_env_file=None, database_url=database_url, outline_timeout_seconds=1.0)


@pytest.fixture
async def api(settings: Settings, outline_server: RunningEmulator, aiohttp_client) -> Api:
    """The real app over HTTP, with the emulator registered as ``alpha`` and a live token."""
    client = await aiohttp_client(ServiceServer(build_app(settings)))
    SECRET_MARKERS.append(urlsplit(outline_server.api_url).path)
    ctx = client.app[CONTEXT]
    await registry.add_server(ctx, name="alpha", api_url=outline_server.api_url, actor=audit.CLI)
    _, plaintext = await tokens.create_token(TOKEN_NAME, actor=audit.CLI)
    return Api(client, plaintext, outline_server.emulator)


@pytest.fixture
async def beta(api: Api) -> AsyncIterator[OutlineEmulator]:
    """A second emulated server registered as ``beta``."""
    running = await start_emulator()
    SECRET_MARKERS.append(urlsplit(running.api_url).path)
    ctx = api.client.app[CONTEXT]
    await registry.add_server(ctx, name="beta", api_url=running.api_url, actor=audit.CLI)
    yield running.emulator
    await running.stop()
