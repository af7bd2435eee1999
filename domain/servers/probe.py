"""Which servers answer right now: what a user is offered when choosing a server."""

import asyncio

from db.models import VPNServer
from domain.context import Context
from domain.errors import DomainError, ServerUnavailable
from domain.keys import remote

# How long a server picker waits for a server to say it is up.
PROBE_SECONDS = 3.0


async def answering(ctx: Context, servers: list[VPNServer]) -> list[VPNServer]:
    """The servers that answer within ``PROBE_SECONDS``; ServerUnavailable when none does."""

    async def answers(server: VPNServer) -> bool:
        try:
            info = remote.call(server, remote.backend(ctx, server).server_info())
            await asyncio.wait_for(info, PROBE_SECONDS)
        except (DomainError, TimeoutError):
            return False
        return True

    up = await asyncio.gather(*(answers(s) for s in servers))
    found = [s for s, ok in zip(servers, up, strict=True) if ok]
    if not found:
        raise ServerUnavailable("no VPN server is answering", server=None)
    return found
