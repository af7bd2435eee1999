"""Talking to a key's VPN server: error mapping, intended limits, remote ids."""

import logging
import uuid
from collections.abc import Awaitable
from typing import TypeVar

from db.models import VPNKey, VPNServer
from domain.context import Context
from domain.errors import ServerTimeout, ServerUnavailable
from vpn.backends import Backend, ServerConfig
from vpn.errors import VpnError, VpnNotFound, VpnTimeout

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Every key this service creates has an id with this prefix; the reconciler never
# touches a server key without it.
REMOTE_ID_PREFIX = "vk-"


def new_remote_id() -> str:
    """A fresh server-side key id in this service's scheme."""
    return f"{REMOTE_ID_PREFIX}{uuid.uuid4().hex[:16]}"


def is_ours(remote_id: str) -> bool:
    """Whether a server key id follows this service's scheme."""
    return remote_id.startswith(REMOTE_ID_PREFIX)


def backend(ctx: Context, server: VPNServer) -> Backend:
    """The pooled client for ``server``."""
    config = ServerConfig(server.name, server.kind, server.api_url, server.cert_sha256)
    return ctx.pool.get(config)


async def call(server: VPNServer, op: Awaitable[T]) -> T:
    """Await a VPN call, turning its failures into domain errors that name only the server."""
    try:
        return await op
    except VpnTimeout:
        raise ServerTimeout(
            f"VPN server '{server.name}' did not answer in time", server=server.name
        ) from None
    except VpnError as exc:
        raise ServerUnavailable(
            f"VPN server '{server.name}' failed: {exc.message}", server=server.name
        ) from None


async def forget_missing(op: Awaitable[None]) -> None:
    """Await a delete, treating "already gone" as success."""
    try:
        await op
    except VpnNotFound:
        pass


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
