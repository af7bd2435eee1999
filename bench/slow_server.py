"""Slow server drill: one of two servers hangs (every call sleeps past the timeout, then 503s).
Requests for the healthy server must keep their latency (no shared pool starvation); requests
for the hung one must fail within the timeout (OUTLINE_TIMEOUT_SECONDS=1).

``python -m bench.slow_server [--seconds 8] [--db sqlite]``
"""

import argparse
import asyncio

import aiohttp

from bench.common import Figure, each_engine, quiet, report, service
from bench.dbs import add_servers, api_token, orm, pg_available, scratch_database
from bench.load import LoadResult, Request, run_load
from vpn.emulator import start_emulator

TIMEOUT = 1.0
KEYS = 8  # per server: one per concurrent request, so no two wait on one key's lock


def rename(base: str, token: str, server: str, key_ids: list[int]) -> Request:
    """PATCH ``token_name`` (a server call) on the worker's own key."""
    headers = {"Authorization": f"Bearer {token}"}

    async def request(session: aiohttp.ClientSession, worker: int, number: int) -> int:
        url = f"{base}/api/vpn_token/{key_ids[worker]}/{server}/"
        body = {"command": "token_name", "name": f"n{number}"}
        async with session.patch(url, json=body, headers=headers) as resp:
            await resp.read()
            return resp.status

    return request


async def new_keys(base: str, token: str, server: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"}
    body = {"command": "create_new_token", "name": "slow"}
    ids = []
    async with aiohttp.ClientSession(headers=headers) as session:
        for _ in range(KEYS):
            async with session.post(f"{base}/api/vpn_token/{server}/", json=body) as resp:
                assert resp.status == 201, await resp.text()
                ids.append((await resp.json())["vpn_keys"][0]["id"])
    return ids


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("slow_server: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    alpha, beta = await start_emulator(), await start_emulator()
    try:
        async with scratch_database(args.db) as url:
            async with orm(url):
                await add_servers({"alpha": alpha.api_url, "beta": beta.api_url})
                token = await api_token()
            env = {"OUTLINE_TIMEOUT_SECONDS": str(TIMEOUT)}
            async with service(f"slow_server-{args.db}", url, **env) as (base, _):
                a_keys, b_keys = (
                    await new_keys(base, token, "alpha"),
                    await new_keys(base, token, "beta"),
                )
                healthy = rename(base, token, "alpha", a_keys)
                load = {"concurrency": 4, "seconds": args.seconds}
                await quiet()
                calm = await run_load(healthy, **load)
                beta.emulator.faults.hang_before_next(10**6, seconds=30)
                during, hung = await asyncio.gather(
                    run_load(healthy, **load),
                    run_load(
                        rename(base, token, "beta", b_keys), concurrency=KEYS, seconds=args.seconds
                    ),
                )
                beta.emulator.faults.clear()
                beta.emulator.faults.release()
    finally:
        await alpha.stop()
        await beta.stop()
    return figures(args.db, calm, during, hung)


def figures(db: str, calm: LoadResult, during: LoadResult, hung: LoadResult) -> list[Figure]:
    print(f"slow_server calm {calm}\nslow_server during {during}\nslow_server hung {hung}")
    hung_statuses = dict(hung.statuses)
    label = "alpha, beta healthy"
    return [
        Figure("slow_server", "healthy server p99", during.p99_ms, "ms", calm.p99_ms, label,
               "≈ 1× (no starvation)", during.p99_ms < 2 * calm.p99_ms + 5 and not during.errors,
               f"({db}, {during.requests} PATCH, {during.errors} errors)"),
        Figure("slow_server", "healthy server rps", during.rps, "req/s", calm.rps, label),
        Figure("slow_server", "hung server: slowest answer", hung.max_ms, "ms", TIMEOUT * 1000,
               "timeout", "≤ timeout + 0.5 s", hung.max_ms <= TIMEOUT * 1000 + 500,
               f"(statuses {hung_statuses})"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.slow_server")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args(argv)
    if not each_engine("bench.slow_server", argv, args.db):
        report(f"slow_server-{args.db}", asyncio.run(run(args)))


if __name__ == "__main__":
    main()
