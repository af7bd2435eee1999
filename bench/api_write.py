"""API write path: ``POST api/vpn_token/<srv>/`` (``create_new_token``) against an emulator in
its own process, vs. that emulator's own create rate (``PUT /access-keys/{id}`` sent straight to
it with the same concurrency and count, on a fresh emulator).

``python -m bench.api_write [--requests 1500] [--concurrency 10] [--db both]``
"""

import argparse
import asyncio
import itertools

import aiohttp

from bench.common import RESULTS, Figure, each_engine, emulator_process, quiet, report, service
from bench.dbs import add_servers, api_token, orm, pg_available, scratch_database
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


async def load(request: Request, args: argparse.Namespace) -> LoadResult:
    """A short warm-up, then the measured run."""
    await run_load(request, concurrency=args.concurrency, seconds=5, max_requests=50)
    await quiet()
    return await run_load(
        request, concurrency=args.concurrency, seconds=MAX_SECONDS, max_requests=args.requests
    )


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("api_write: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    async with emulator_process("api_write-emulator") as (api_url, _):
        base_result = await load(create_direct(api_url), args)
    print(f"api_write direct: {base_result}", flush=True)
    async with scratch_database(args.db) as url, emulator_process("api_write-emu") as (api, _):
        async with orm(url):
            await add_servers({"alpha": api})
            token = await api_token()
        profile = RESULTS / f"profile-api_write-{args.db}.txt" if args.profile else None
        async with service(f"api_write-{args.db}", url, profile=profile) as (base, _):
            got = await load(create_via_api(base, token), args)
    print(f"api_write {args.db}: {got}", flush=True)
    note = f"({args.db}, c={args.concurrency}, {got.requests} creates, {got.errors} errors)"
    return [
        Figure("api_write", "creates/s", got.rps, "req/s", base_result.rps, "emulator PUT direct",
               "≥ 0.5×", got.rps >= 0.5 * base_result.rps and not got.errors, note),
        Figure("api_write", "p99", got.p99_ms, "ms", base_result.p99_ms, "emulator PUT direct",
               note=note),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.api_write")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the service")
    args = parser.parse_args(argv)
    if not each_engine("bench.api_write", argv, args.db):
        report(f"api_write-{args.db}", asyncio.run(run(args)), keep=not args.profile)


if __name__ == "__main__":
    main()
