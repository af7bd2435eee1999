"""Scale: 100,000 keys over 10 servers — the expiry sweep's query, one full traffic sync of
every server, and the process's peak RSS; baseline: the same at 1,000 keys, same run; the
sync also at 10,000 keys, and extrapolated linearly to 1,000,000.

Rows are bulk-inserted; the matching keys (with traffic) are put straight into the state of
10 emulators, which run in a child process so that the RSS figure is the service code's own.
``python -m bench.scale [--keys 100000] [--servers 10] [--db sqlite]``
"""

import argparse
import asyncio
import gc
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tortoise.expressions import Q

from bench.common import RESULTS, Figure, each_engine, emulator_process, profiled, quiet, report
from bench.dbs import add_servers, orm, pg_available, scratch_database
from bench.emulator import seed_id
from db.models import InactiveReason, KeyState, User, VPNKey
from domain.context import Context, utcnow
from domain.keys.expiry import sweep_expired
from domain.traffic.ledger import sync_traffic
from vpn.pool import BackendPool

BATCH = 5000
EXPIRED_SHARE = 100  # one key in this many is past its expiry


@dataclass
class Scale:
    keys: int
    query_ms: float
    sweep_ms: float
    sync_s: float
    rss_mb: float
    peak_mb: float
    booked: int


def rss_mb(field: str = "VmRSS") -> float:
    """This process's resident (or, with ``VmHWM``, peak) memory in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Start the ``VmHWM`` peak afresh (Linux ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


async def fill(server_ids: list[int], per_server: int) -> None:
    """Users and live keys matching the emulators' pre-filled ones, in bulk."""
    now = utcnow()
    users = per_server * len(server_ids) // 5
    for start in range(0, users, BATCH):
        end = min(users, start + BATCH)
        await User.bulk_create([User(id=10**6 + n, first_name="u") for n in range(start, end)])
    rows = []
    for s, server_id in enumerate(server_ids):
        for i in range(per_server):
            n = s * per_server + i
            past = n % EXPIRED_SHARE == 0
            rows.append(
                VPNKey(
                    server_id=server_id,
                    owner_id=10**6 + n % users,
                    remote_id=seed_id(s, i),
                    name=f"k{i}",
                    access_url="ss://bench",
                    state=KeyState.LIVE,
                    valid_until=now + timedelta(days=-1 if past else 30),
                    traffic_limit=10 * 1024**3,
                )
            )
            if len(rows) == BATCH:
                await VPNKey.bulk_create(rows)
                rows = []
    if rows:
        await VPNKey.bulk_create(rows)


async def expiry_query(ctx: Context) -> list[int]:
    """The candidate query of ``domain.expiry.sweep_expired``, as it is written there."""
    return await (
        VPNKey.filter(state=KeyState.LIVE, valid_until__lte=ctx.now(), server__is_active=True)
        .filter(Q(is_active=True) | Q(inactive_reason=InactiveReason.TRAFFIC))
        .order_by("valid_until")
        .values_list("id", flat=True)
    )


async def measure(engine: str, keys: int, servers: int, profile: Path | None = None) -> Scale:
    per_server = keys // servers
    emu_args = ["--servers", str(servers), "--keys", str(per_server), "--traffic"]
    async with (
        scratch_database(engine) as url,
        emulator_process(f"scale-emu-{keys}", *emu_args) as (urls, _),
        orm(url),
    ):
        rows = await add_servers({f"s{n}": u for n, u in enumerate(urls.split())})
        await fill([r.id for r in rows], per_server)
        pool = BackendPool(timeout=60)
        # The bench's emulators answer exact counts (real time: no scrapes to wait for).
        ctx = Context(pool=pool, scrape_seconds=0)
        await expiry_query(ctx)  # warm the ORM's caches
        gc.collect()
        await quiet()
        reset_peak()
        rss = rss_mb()
        started = time.perf_counter()
        found = await expiry_query(ctx)
        query_ms = (time.perf_counter() - started) * 1000
        # The sweep as the worker runs it, at a moment when nothing is due yet.
        ctx.clock = lambda: utcnow() - timedelta(days=2)
        started = time.perf_counter()
        await sweep_expired(ctx)
        sweep_ms = (time.perf_counter() - started) * 1000
        ctx.clock = utcnow
        with profiled(profile):
            started = time.perf_counter()
            reports = await sync_traffic(ctx)
            sync_s = time.perf_counter() - started
        peak = rss_mb("VmHWM")
        await pool.close()
    errors = [r.error for r in reports if r.error]
    assert not errors and len(found) == keys // EXPIRED_SHARE, (errors, len(found))
    booked = sum(r.keys for r in reports)
    return Scale(keys, query_ms, sweep_ms, sync_s, rss, peak, booked)


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("scale: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    small = await measure(args.db, args.baseline_keys, args.servers)
    print(f"scale {args.db}: {small}", flush=True)
    middle = await measure(args.db, args.keys // 10, args.servers)
    print(f"scale {args.db}: {middle}", flush=True)
    profile = RESULTS / f"profile-scale-sync-{args.db}.txt" if args.profile else None
    big = await measure(args.db, args.keys, args.servers, profile)
    print(f"scale {args.db}: {big}", flush=True)
    label = f"{small.keys:,} keys"
    note = f"({args.db}, {big.keys:,} keys / {args.servers} servers)"
    million = big.sync_s * 1_000_000 / big.keys
    linear = f"({args.db}; ×{big.sync_s / middle.sync_s:.1f} for ×10 keys)"
    return [
        Figure("scale", f"full traffic sync, {middle.keys:,} keys", middle.sync_s, "s",
               small.sync_s, label, "< 5 s", middle.sync_s < 5, f"({args.db})"),
        Figure("scale", "full traffic sync, 1,000,000 keys (linear from 100k)", million, "s",
               small.sync_s, label, note=linear),
        Figure("scale", "expiry query", big.query_ms, "ms", small.query_ms, label, "< 200 ms",
               big.query_ms < 200, f"({args.db}, {big.keys // EXPIRED_SHARE:,} due)"),
        Figure("scale", "expiry sweep, nothing due", big.sweep_ms, "ms", small.sweep_ms, label,
               note=note),
        Figure("scale", "full traffic sync", big.sync_s, "s", small.sync_s, label, "< 5 s",
               big.sync_s < 5, f"({args.db}, {big.booked:,} keys booked)"),
        Figure("scale", "peak RSS", big.peak_mb, "MiB", small.peak_mb, label, "< 300 MB",
               big.peak_mb * 1.048576 < 300, f"({args.db}; {big.rss_mb:.0f} MiB before)"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--baseline-keys", type=int, default=1_000)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the big sync")
    args = parser.parse_args(argv)
    if not each_engine("bench.scale", argv, args.db):
        report(f"scale-{args.db}", asyncio.run(run(args)), keep=not args.profile)


if __name__ == "__main__":
    main()
