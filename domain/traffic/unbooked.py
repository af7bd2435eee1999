"""Usage the ledger has not booked yet, read from the server now (for refreshes and moves)."""

from db.models import VPNKey, VPNServer
from domain.context import Context
from domain.keys import remote
from domain.traffic import schedule as schedules
from domain.traffic.scraped import KeyView, read_usage


async def unbooked_usage(ctx: Context, server: VPNServer, keys: list[VPNKey]) -> dict[int, int]:
    """Bytes per key id that each of ``keys`` (all on ``server``) moved since the last sync
    booked it, as far as the server can tell now; booking them is the caller's business.
    From the 30-day counters (never under) while the scrape answers cannot be trusted yet."""
    client = remote.backend(ctx, server)
    counters = await remote.call(server, client.usage())
    if ctx.scrape_seconds > 0 and schedules.view(server).trusted(ctx.now().timestamp()):
        views = [KeyView(k.remote_id, k.usage_baseline, k.created_at) for k in keys]
        anchor = server.last_synced_at
        reading = await read_usage(ctx, server, client, views, counters, anchor=anchor)
        if reading is not None:
            return {k.id: round(reading.counted.get(k.remote_id, 0)) for k in keys}
    return {k.id: max(0, counters.get(k.remote_id, 0) - k.usage_baseline) for k in keys}
