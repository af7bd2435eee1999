"""The ledger on the real Outline server: real bytes through ``ss-traffic``, Prometheus's
real 60 s scrapes, bursts and idle periods; a quota cut that really stops the key. Nothing is
booked in the first five minutes, while shadowbox may still hold answers asked by others."""

import asyncio
import time

from db.models import InactiveReason, VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.keys import changes, issuing
from domain.traffic import schedule as schedules
from domain.traffic.ledger import sync_traffic
from tests.integration.conftest import SCRAPE_SECONDS, RealOutline

MB = 1_000_000
# A move shows at the next scrape, at most 60 s later; syncs 7 s apart book it by 70 s.
SETTLE = SCRAPE_SECONDS + 10
SYNC_EVERY = 7


class Moved:
    """Bytes the server counted per key (``outline_counted_bytes`` of each run)."""

    def __init__(self, real: RealOutline) -> None:
        self.real = real
        self.bytes: dict[int, int] = {}
        self.largest = 0

    async def move(self, key: VPNKey, nbytes: int, *, give_up_after: float = 60.0) -> bool:
        url = key.access_url or ""
        report = await self.real.move_bytes(url, nbytes, give_up_after=give_up_after)
        counted = int(report.get("outline_counted_bytes", 0)) if report["ok"] else 0
        self.bytes[key.id] = self.bytes.get(key.id, 0) + counted
        self.largest = max(self.largest, counted)
        return report["ok"]


async def used(key: VPNKey) -> int:
    return (await VPNKey.get(id=key.id)).traffic_used


async def idle(ctx: Context, moved: Moved, keys: list[VPNKey], seconds: float) -> None:
    """Sync every 7 s from now through ``seconds`` (however long each sync takes); never
    above the truth plus one scrape's extrapolation."""
    began = time.monotonic()
    for tick in range(0, int(seconds) + 1, SYNC_EVERY):
        await asyncio.sleep(max(0.0, began + tick - time.monotonic()))
        (report,) = await sync_traffic(ctx)
        assert report.error is None, report.error
        for key in keys:
            assert await used(key) <= moved.bytes.get(key.id, 0) + moved.largest


async def test_real_traffic_is_booked_within_5_percent_and_a_quota_cut_stops_the_key(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    ctx.scrape_seconds, ctx.scrape_settle_seconds = SCRAPE_SECONDS, 1.0
    moved = Moved(real_outline)
    free = await issuing.create_key(ctx, server="real", name="free", actor=audit.CLI)
    capped = await issuing.create_key(
        ctx, server="real", name="capped", traffic_limit=4 * MB, actor=audit.CLI
    )
    keys = [free, capped]
    await sync_traffic(ctx)  # this process meets the server: it books from five minutes on
    for key in keys:  # a tiny first transfer: the series' first sample is then near zero
        assert await moved.move(key, 1)
    await idle(ctx, moved, keys, schedules.CACHED_FOR + 10)
    assert await moved.move(free, 3 * MB) and await moved.move(capped, 3 * MB)
    await idle(ctx, moved, keys, SETTLE)
    assert (await VPNKey.get(id=capped.id)).is_active
    # The capped key goes over its 4 MB: cut within one sync after the scrape that shows it.
    assert await moved.move(free, 2 * MB) and await moved.move(capped, 2 * MB)
    await idle(ctx, moved, keys, SETTLE)
    cut = await VPNKey.get(id=capped.id)
    state = (cut.is_active, cut.inactive_reason, cut.traffic_used, moved.bytes[capped.id])
    assert state[:2] == (False, InactiveReason.TRAFFIC), state
    assert not await moved.move(capped, 100_000, give_up_after=5)  # its connections stop
    assert await moved.move(free, 4 * MB)
    await idle(ctx, moved, keys, SETTLE)
    truth, booked = moved.bytes[free.id], await used(free)
    print(f"real traffic: booked {booked:,} of {truth:,} counted ({booked / truth - 1:+.3%})")
    assert abs(booked - truth) <= 0.05 * truth
    reopened = await changes.set_traffic_limit(
        ctx, key_id=capped.id, server="real", traffic_limit=50 * MB, actor=audit.CLI
    )
    assert reopened.is_active
    assert await moved.move(capped, 100_000)
