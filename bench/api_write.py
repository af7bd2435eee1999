"""API write path: ``POST api/vpn_token/<srv>/`` (``create_new_token``) against an emulator in
its own process, vs. an emulator's own create rate (``PUT /access-keys/{id}`` sent straight to
a second emulator with the same concurrency and count), in interleaved rounds.

``python -m bench.api_write [--requests 1500] [--concurrency 10] [--rounds 3] [--db both]
[--workers 2]`` (``--workers``: that many service processes, PostgreSQL only)
"""

import argparse
import asyncio
import itertools
from collections.abc import Awaitable, Callable

import aiohttp

from bench.common import (
    RESULTS,
    Figure,
    each_engine,
    emulator_process,
    interleaved,
    loop_factory_name,
    report,
    rounds_figure,
    service,
)
from bench.dbs import (
    add_servers,
    add_synchronous,
    api_token,
    orm,
    pg_available,
    scratch_database,
    sqlite_synchronous,
)
from bench.load import LoadResult, Request, run_load

ids = itertools.count(730_000_000_000_000)
MAX_SECONDS = 60


def create_via_api(base: str, token: str) -> Request:
    url = f"{base}/api/vpn_token/alpha/"
    body = {"command": "create_new_token", "name": "bench", "traffic_limit": 10**10}
    headers = {"Authorization": f"Bearer {token}"}

    async def request(session: aiohttp.ClientSession, worker: int, number: int) -> int:
        async with session.post(url, json=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    return request


def create_direct(api_url: str) -> Request:
    body = {"name": "bench", "limit": {"bytes": 10**10}}

    async def request(session: aiohttp.ClientSession, worker: int, number: int) -> int:
        async with session.put(f"{api_url}/access-keys/{next(ids)}", json=body) as resp:
            await resp.read()
            return resp.status

    return request


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("api_write: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    async with (
        scratch_database(args.db) as url,
        emulator_process("api_write-emulator") as (direct_api, _),
        emulator_process("api_write-emu") as (api, _),
    ):
        url = sqlite_synchronous(url, args.sqlite_synchronous)
        async with orm(url):
            await add_servers({"alpha": api})
            token = await api_token()
        profile = RESULTS / f"profile-api_write-{args.db}.txt" if args.profile else None
        name = f"api_write-{args.db}"
        async with service(name, url, profile=profile, workers=args.workers) as (base, _):
            requests = {
                "emulator PUT": create_direct(direct_api),
                "service": create_via_api(base, token),
            }

            def measure(request: Request) -> Callable[[], Awaitable[LoadResult]]:
                async def once() -> LoadResult:
                    limits = {"seconds": MAX_SECONDS, "max_requests": args.requests}
                    return await run_load(request, concurrency=args.concurrency, **limits)

                return once

            for request in requests.values():  # warm-up
                await run_load(request, concurrency=args.concurrency, seconds=5, max_requests=50)
            got = await interleaved(args.rounds, {n: measure(r) for n, r in requests.items()})
    errors = sum(r.errors for r in got["service"])
    loop = loop_factory_name()
    sync = f" synchronous={args.sqlite_synchronous}" if args.db == "sqlite" else ""
    note = (
        f"({args.db}{sync}, {args.workers} process(es), c={args.concurrency}, "
        f"{args.requests} creates × {args.rounds} rounds, {loop}, {errors} errors)"
    )
    target = 0.15 if args.db == "sqlite" else 0.25
    rates = [r.rps for r in got["service"]], [r.rps for r in got["emulator PUT"]]
    return [
        rounds_figure("api_write", "creates/s", *rates[:1], "req/s", rates[1],
                      "emulator PUT direct", f"≥ {target}×",
                      lambda v, r: r >= target and not errors, note),
        rounds_figure("api_write", "p99", [r.p99_ms for r in got["service"]], "ms",
                      [r.p99_ms for r in got["emulator PUT"]], "emulator PUT direct", note=note),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_write")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="service processes (PostgreSQL)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the service")
    add_synchronous(parser)
    args = parser.parse_args(argv)
    if not each_engine("bench.api_write", argv, args.db):
        name = f"api_write-{args.db}" + (f"-w{args.workers}" if args.workers > 1 else "")
        report(name, asyncio.run(run(args)), keep=not args.profile)


if __name__ == "__main__":
    main()
