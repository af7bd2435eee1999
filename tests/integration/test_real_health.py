"""Readiness and server health with the real Outline server behind them."""

from typing import Any

from aiohttp.test_utils import TestClient

from api.app_keys import CONTEXT
from api.setup import build_app
from db.models import VPNServer
from domain import audit
from domain.context import Context
from domain.keys import issuing
from domain.servers import registry
from domain.settings import Settings
from tests.integration.conftest import RealOutline


async def ready(client: TestClient) -> tuple[int, dict[str, Any]]:
    """``GET /readyz``: status and body."""
    async with client.get("/readyz") as resp:
        return resp.status, await resp.json()


async def test_readyz_reports_the_real_server_reachable_without_showing_its_url(
    settings: Settings, real_outline: RealOutline, aiohttp_client
) -> None:
    client = await aiohttp_client(build_app(settings))
    await registry.add_server(
        client.app[CONTEXT],
        name="real",
        api_url=real_outline.api_url,
        cert_sha256=real_outline.cert_sha256,
        actor=audit.CLI,
    )
    status, body = await ready(client)
    assert status == 200, body
    [state] = body["servers"]
    assert (state["name"], state["reachable"], state["error"]) == ("real", True, None)
    assert state["latency_ms"] >= 0
    assert real_outline.api_url.rsplit("/", 1)[1] not in str(body)

    await VPNServer.filter(name="real").update(cert_sha256="00" * 32)
    status, body = await ready(client)
    assert status == 503
    assert "fingerprint" in body["servers"][0]["error"]
    assert real_outline.api_url.rsplit("/", 1)[1] not in str(body)


async def test_server_health_counts_the_keys_on_the_real_server(
    real_server: VPNServer, ctx: Context
) -> None:
    for name in ("one", "two"):
        await issuing.create_key(ctx, server="real", name=name, actor=audit.CLI)
    health = await registry.check_health(ctx, real_server)
    assert (health.reachable, health.error, health.live_keys) == (True, None, 2)
    assert health.remote_keys is not None and health.remote_keys >= 2
    assert health.latency_ms is not None and health.latency_ms > 0
