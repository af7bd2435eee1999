"""Talking to a key's VPN server: error mapping and the limits a key should have there."""

from collections.abc import Awaitable
from contextlib import suppress
from typing import TypeVar

from db.models import VPNKey, VPNServer
from domain.context import Context
from domain.errors import ServerTimeout, ServerUnavailable
from vpn.backends import Backend, ServerConfig
from vpn.errors import VpnError, VpnNotFound, VpnTimeout

T = TypeVar("T")


def backend(ctx: Context, server: VPNServer) -> Backend:
    """The pooled client for ``server``."""
    config = ServerConfig(server.name, server.kind, server.api_url, server.cert_sha256)
    return ctx.pool.get(config)


def domain_error(server: VPNServer, exc: VpnError) -> ServerUnavailable:
    """The domain error for a failed VPN call; it names only the server."""
    if isinstance(exc, VpnTimeout):
        return ServerTimeout(
            f"VPN server '{server.name}' did not answer in time", server=server.name
        )
    return ServerUnavailable(
        f"VPN server '{server.name}' failed: {exc.message}", server=server.name
    )


async def call(server: VPNServer, op: Awaitable[T]) -> T:
    """Await a VPN call, turning its failures into domain errors that name only the server."""
    try:
        return await op
    except VpnError as exc:
        raise domain_error(server, exc) from None


async def forget_missing(op: Awaitable[None]) -> None:
    """Await a delete, treating "already gone" as success."""
    with suppress(VpnNotFound):
        await op


def server_limit(key: VPNKey) -> int | None:
    """The data limit the server should hold for ``key`` (bytes; ``None`` = unlimited).

    Outline compares its own rolling usage of the key with the limit, so the allowance
    left is added to the usage it reported at the last traffic sync.
    """
    if not key.is_active:
        return 0
    if key.traffic_limit is None:
        return None
    return max(0, key.traffic_limit - key.traffic_used) + key.usage_baseline
