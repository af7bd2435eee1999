"""Read-only figures for the admin panel: users, keys and traffic per server, server health."""

import asyncio
from dataclasses import dataclass

from tortoise.functions import Count, Sum

from db.models import KeyState, User, VPNKey
from domain.context import Context
from domain.servers import registry
from domain.servers.registry import ServerHealth


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Live keys and their traffic on one server."""

    name: str
    is_active: bool
    live_keys: int
    active_keys: int
    traffic_used: int
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """The whole service at a glance."""

    users: int
    blocked_users: int
    trial_users: int
    servers: list[ServerStats]

    @property
    def live_keys(self) -> int:
        """Live keys on every server."""
        return sum(s.live_keys for s in self.servers)

    @property
    def active_keys(self) -> int:
        """Live keys that are not cut off."""
        return sum(s.active_keys for s in self.servers)

    @property
    def traffic_used(self) -> int:
        """Traffic of every live key (a refreshed key carries its predecessor's usage)."""
        return sum(s.traffic_used for s in self.servers)


async def _per_server(**filters: object) -> dict[int, tuple[int, int]]:
    rows = (
        await VPNKey.filter(state=KeyState.LIVE, **filters)
        .annotate(n=Count("id"), traffic=Sum("traffic_used"))
        .group_by("server_id")
        .values("server_id", "n", "traffic")
    )
    return {row["server_id"]: (int(row["n"]), int(row["traffic"] or 0)) for row in rows}


async def collect_stats() -> Stats:
    """Counts of users and of live keys and traffic per server."""
    live, active = await _per_server(), await _per_server(is_active=True)
    per_server = [
        ServerStats(
            name=s.name,
            is_active=s.is_active,
            live_keys=live.get(s.id, (0, 0))[0],
            active_keys=active.get(s.id, (0, 0))[0],
            traffic_used=live.get(s.id, (0, 0))[1],
            title=s.title,
        )
        for s in await registry.list_servers()
    ]
    return Stats(
        users=await User.all().count(),
        blocked_users=await User.filter(bot_blocked_at__isnull=False).count(),
        trial_users=await User.filter(demo_issued_at__isnull=False).count(),
        servers=per_server,
    )


async def servers_health(ctx: Context) -> list[ServerHealth]:
    """Every registered server checked at once (reachable, key count, latency)."""
    registered = await registry.list_servers()
    return list(await asyncio.gather(*(registry.check_health(ctx, s) for s in registered)))
