"""Kill drill: a driver process runs create / refresh / delete against an emulator in its own
process and is killed with SIGKILL at random moments; after each kill the reconciler runs
(``stale_after=0``) and the drift left is counted. Target: 0 orphans, 0 live keys missing on
the server, 0 half-made (``creating``) keys. Baseline: the drift found before reconciling.

``python -m bench.kill_drill [--kills 50] [--max-run 1.5] [--db sqlite]``
"""

import argparse
import asyncio
import random
from collections import Counter

from bench.common import Figure, each_engine, emulator_process, report, spawn
from bench.dbs import add_servers, orm, pg_available, scratch_database
from bench.drift import Drift, drift, repair
from db.models import AuditEvent
from domain.context import Context
from vpn.pool import BackendPool

OPERATIONS = ("key.created", "key.refreshed", "key.deleted")


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("kill_drill: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    rng = random.Random(args.seed)
    before, after, repairs = Drift(), Drift(), Counter[str]()
    env = {"OUTLINE_TIMEOUT_SECONDS": "2", "LOG_LEVEL": "WARNING"}
    async with (
        scratch_database(args.db) as url,
        emulator_process("kill_drill-emu") as (api_url, _),
        orm(url),
    ):
        [server] = await add_servers({"alpha": api_url})
        pool = BackendPool(timeout=5)
        ctx = Context(pool=pool)
        for n in range(args.kills):
            driver_env = {**env, "DATABASE_URL": url}
            args_ = ["-m", "bench.kill_driver", "alpha", str(args.workers)]
            proc, _ = await spawn("kill_drill-driver", args_, driver_env, ready=True)
            await asyncio.sleep(rng.uniform(0.05, args.max_run))
            proc.kill()
            await proc.wait()
            found = await drift(ctx, server)
            repairs.update(await repair(ctx, server))
            left = await drift(ctx, server)
            before, after = before + found, after + left
            print(f"kill {n + 1}: found {found}, left {left}", flush=True)
        ops = await AuditEvent.filter(action__in=OPERATIONS).count()
        await pool.close()
    print(f"kill_drill: {ops} operations completed, reconciler: {dict(repairs)}")
    note = f"({args.db}, {args.kills} kills, {ops} operations done)"
    done = ", ".join(f"{k} {v}" for k, v in repairs.items() if v)
    label = "before reconcile"
    return [
        Figure("kill_drill", "orphan keys on server", after.orphans, "", before.orphans, label,
               "0", after.orphans == 0, note),
        Figure("kill_drill", "live keys missing on server", after.missing, "", before.missing,
               label, "0", after.missing == 0, f"(reconciler: {done})"),
        Figure("kill_drill", "half-made keys (creating)", after.half, "", before.half, label,
               "0", after.half == 0),
        Figure("kill_drill", "name/limit differing", after.stale, "", before.stale, label,
               "0", after.stale == 0),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.kill_drill")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4, help="concurrent loops in the driver")
    parser.add_argument("--max-run", type=float, default=1.5, help="longest life of a driver")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args(argv)
    if not each_engine("bench.kill_drill", argv, args.db):
        report(f"kill_drill-{args.db}", asyncio.run(run(args)))


if __name__ == "__main__":
    main()
