"""Scale: 100,000 keys over 10 servers — the expiry sweep's query, one full traffic sync of
every server (the first: every key new, the expired ones cut), a second one after every key
moved more bytes (the steady state), and the process's peak RSS; baseline: the same at 1,000
keys, same run; the syncs also at 10,000 keys, and extrapolated linearly to 1,000,000. Each
sync's CPU seconds are noted: the service's process (all its threads) and the emulators'
(one process for all ten servers, on the same cores: a real server's work is its own) and,
on PostgreSQL, its server's (every ``postgres`` process).

Rows are bulk-inserted; the matching keys (with traffic) are put straight into the state of
10 emulators, which run in a child process so that the RSS figure is the service code's own.
Sizes are measured in interleaved rounds (``--rounds``); figures are medians, with min/max.
``python -m bench.scale [--keys 100000] [--servers 10] [--rounds 3] [--db sqlite]``
"""

import argparse
import asyncio
import os
import signal
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tortoise.expressions import Q

from api.serving import freeze_start_up
from bench.common import RESULTS, Figure, each_engine, emulator_process, profiled, quiet, report
from bench.dbs import add_servers, orm, pg_available, scratch_database
from bench.emulator import seed_id
from db.models import InactiveReason, KeyState, User, VPNKey, VPNServer
from domain.context import Context, utcnow
from domain.keys import remote
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
    steady_s: float
    sync_cpu_s: float
    steady_cpu_s: float
    sync_emu_s: float
    steady_emu_s: float
    sync_db_s: float
    steady_db_s: float
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


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> float:
    """CPU seconds every local ``postgres`` process has used so far (0 without one)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                total += cpu_of(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return total


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


async def more_traffic(ctx: Context, pid: int, server: VPNServer, remote_id: str) -> None:
    """Have the emulators give every key new bytes (SIGUSR2) and wait until they did."""
    client = remote.backend(ctx, server)
    before = (await client.usage())[remote_id]
    os.kill(pid, signal.SIGUSR2)
    for _ in range(600):  # the emulator process takes the signal at its next turn
        if (await client.usage())[remote_id] != before:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # the next sync's window is whole seconds long


async def measure(engine: str, keys: int, servers: int, profile: Path | None = None) -> Scale:
    per_server = keys // servers
    emu_args = ["--servers", str(servers), "--keys", str(per_server), "--traffic"]
    async with (
        scratch_database(engine) as url,
        emulator_process(f"scale-emu-{keys}", *emu_args) as (urls, pid),
        orm(url),
    ):
        rows = await add_servers({f"s{n}": u for n, u in enumerate(urls.split())})
        await fill([r.id for r in rows], per_server)
        pool = BackendPool(timeout=60)
        # The bench's emulators answer exact counts (real time: no scrapes to wait for).
        ctx = Context(pool=pool, scrape_seconds=0)
        await expiry_query(ctx)  # warm the ORM's caches
        freeze_start_up()  # as ``serve`` does once it listens
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
            started, cpu, emu, db = (
                time.perf_counter(),
                time.process_time(),
                cpu_of(pid),
                postgres_cpu(),
            )
            reports = await sync_traffic(ctx)
            sync_s, sync_cpu_s = time.perf_counter() - started, time.process_time() - cpu
            sync_emu_s, sync_db_s = cpu_of(pid) - emu, postgres_cpu() - db
        await more_traffic(ctx, pid, rows[-1], seed_id(servers - 1, per_server - 1))
        with profiled(profile and profile.with_name(profile.stem + "-steady.txt")):
            started, cpu, emu, db = (
                time.perf_counter(),
                time.process_time(),
                cpu_of(pid),
                postgres_cpu(),
            )
            steady = await sync_traffic(ctx)
            steady_s, steady_cpu_s = time.perf_counter() - started, time.process_time() - cpu
            steady_emu_s, steady_db_s = cpu_of(pid) - emu, postgres_cpu() - db
        peak = rss_mb("VmHWM")
        await pool.close()
    errors = [r.error for r in reports + steady if r.error]
    assert not errors and len(found) == keys // EXPIRED_SHARE, (errors, len(found))
    booked = sum(r.keys for r in reports)
    cut = sum(len(r.transitions) for r in reports)
    # Every key booked, both times; the expired ones cut by the first sync.
    assert booked == keys and cut == len(found), (booked, cut)
    print(f"steady sync booked {sum(r.keys for r in steady)} keys", flush=True)
    cpus = (sync_cpu_s, steady_cpu_s, sync_emu_s, steady_emu_s, sync_db_s, steady_db_s)
    return Scale(keys, query_ms, sweep_ms, sync_s, steady_s, *cpus, rss, peak, booked)


def spread_of(values: list[float]) -> str:
    """min / median / max of a figure's rounds."""
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:.3g} / median {mid:.3g} / max {high:.3g} s"


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("scale: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    sizes = (args.baseline_keys, args.keys // 10, args.keys)
    rounds: list[list[Scale]] = [[], [], []]
    for n in range(args.rounds):  # interleaved: every size once per round
        for runs, keys in zip(rounds, sizes, strict=True):
            last = args.profile and n == args.rounds - 1 and keys == args.keys
            profile = RESULTS / f"profile-scale-sync-{args.db}.txt" if last else None
            runs.append(await measure(args.db, keys, args.servers, profile))
            print(f"scale {args.db}: {runs[-1]}", flush=True)
    small, middle, big = ({f: statistics.median(getattr(r, f) for r in runs)
                           for f in ("query_ms", "sweep_ms", "sync_s", "steady_s", "rss_mb",
                                     "peak_mb", "sync_cpu_s", "steady_cpu_s", "sync_emu_s",
                                     "steady_emu_s", "sync_db_s", "steady_db_s")}
                           for runs in rounds)  # fmt: skip
    label, db, million = f"{sizes[0]:,} keys", args.db, 1_000_000 / args.keys
    note = f"({db}, {args.keys:,} keys / {args.servers} servers)"

    def sync_figures(field: str, what: str) -> list[Figure]:
        """The sync at the middle and the big size (targets), and 1,000,000 extrapolated;
        with the CPU seconds of the service's process, the emulators' and PostgreSQL's
        (medians)."""
        runs = [[getattr(r, field) for r in size] for size in rounds]
        growth = big[field] / middle[field]
        cpu, emu, pg = (field.replace("_s", f"_{part}_s") for part in ("cpu", "emu", "db"))

        def note(size: dict[str, float], n: int) -> str:
            spent = f"CPU: service {size[cpu]:.2f} s, emulators {size[emu]:.2f} s"
            spent += f", PostgreSQL {size[pg]:.2f} s" if db == "postgres" else ""
            return f"({db}; {spread_of(runs[n])}; {spent})"

        return [
            Figure("scale", f"{what}, {sizes[1]:,} keys", middle[field], "s", small[field],
                   label, "< 5 s", middle[field] < 5, note(middle, 1)),
            Figure("scale", f"{what}, {sizes[2]:,} keys", big[field], "s", small[field],
                   label, "< 5 s", big[field] < 5, note(big, 2)),
            Figure("scale", f"{what}, 1,000,000 keys (linear from {sizes[2]:,})",
                   big[field] * million, "s", small[field], label,
                   note=f"({db}; ×{growth:.1f} for ×10 keys)"),
        ]  # fmt: skip

    return [
        *sync_figures("sync_s", "first traffic sync (every key new, 1 % cut)"),
        *sync_figures("steady_s", "next traffic sync (every key moved bytes)"),
        Figure("scale", "expiry query", big["query_ms"], "ms", small["query_ms"], label,
               "< 200 ms", big["query_ms"] < 200, f"({db}, {args.keys // EXPIRED_SHARE:,} due)"),
        Figure("scale", "expiry sweep, nothing due", big["sweep_ms"], "ms", small["sweep_ms"],
               label, note=note),
        Figure("scale", "peak RSS", big["peak_mb"], "MiB", small["peak_mb"], label, "< 300 MB",
               big["peak_mb"] * 1.048576 < 300, f"({db}; {big['rss_mb']:.0f} MiB before)"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--baseline-keys", type=int, default=1_000)
    parser.add_argument("--servers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of all sizes")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the big sync")
    args = parser.parse_args(argv)
    if not each_engine("bench.scale", argv, args.db):
        report(f"scale-{args.db}", asyncio.run(run(args)), keep=not args.profile)


if __name__ == "__main__":
    main()
