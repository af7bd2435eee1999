"""Talking to a key's VPN server: error mapping, intended limits, remote ids."""

import secrets
from collections.abc import Awaitable
from contextlib import suppress
from typing import TypeVar

from db.models import VPNKey, VPNServer
from domain.context import Context
from domain.errors import ServerTimeout, ServerUnavailable
from vpn.backends import Backend, ServerConfig
from vpn.errors import VpnError, VpnNotFound, VpnTimeout

T = TypeVar("T")

# Every key this service creates has a 15-digit id starting with these digits; the
# reconciler never touches a server key without it. Ids stay decimal because Outline's
# per-key metrics report ``parseInt(id)`` (and below 2**53, so it is exact); Outline's own
# counter ids are small numbers and never collide.
REMOTE_ID_PREFIX = "73"
REMOTE_ID_DIGITS = 15


def new_remote_id() -> str:
    """A fresh server-side key id in this service's scheme."""
    tail = REMOTE_ID_DIGITS - len(REMOTE_ID_PREFIX)
    return REMOTE_ID_PREFIX + str(secrets.randbelow(10**tail)).zfill(tail)


def is_ours(remote_id: str) -> bool:
    """Whether a server key id follows this service's scheme."""
    return (
        len(remote_id) == REMOTE_ID_DIGITS
        and remote_id.isdigit()
        and remote_id.startswith(REMOTE_ID_PREFIX)
    )


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
