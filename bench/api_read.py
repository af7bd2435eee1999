"""API read path: ``GET api/user/<id>/vpn_keys/<srv>/`` (a user with 3 keys) under load,
against a bare aiohttp handler serving the same JSON from memory (same load, same run).

``python -m bench.api_read [--seconds 10] [--connections 50] [--db both] [--loadgen auto]``
"""

import argparse
import asyncio
import tempfile

import aiohttp

from bench.common import (
    RESULTS,
    Figure,
    each_engine,
    free_port,
    quiet,
    report,
    service,
    spawn,
    stop,
    wait_http,
)
from bench.dbs import (
    add_servers,
    api_token,
    orm,
    pg_available,
    scratch_database,
    user_with_keys,
)
from bench.load import LoadResult, read_load, wrk_available

TG_ID = 424242
PATH = f"/api/user/{TG_ID}/vpn_keys/alpha/"
WARMUP_SECONDS = 2


async def loaded(url: str, headers: dict[str, str], args: argparse.Namespace) -> LoadResult:
    """A short warm-up, then the measured run (on a quiet machine, if it gets quiet)."""
    load = {"connections": args.connections, "tool": args.loadgen}
    await read_load(url, headers, seconds=WARMUP_SECONDS, **load)
    await quiet()
    return await read_load(url, headers, seconds=args.seconds, **load)


async def bare(body: bytes, args: argparse.Namespace) -> LoadResult:
    """The bare handler's figures."""
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        file.write(body)
        file.flush()
        port = free_port()
        proc, _ = await spawn("bare", ["-m", "bench.bare", str(port), file.name])
        try:
            await wait_http(f"http://127.0.0.1:{port}/")
            return await loaded(f"http://127.0.0.1:{port}{PATH}", {}, args)
        finally:
            await stop(proc)


async def real(engine: str, args: argparse.Namespace) -> tuple[bytes, LoadResult]:
    """One answer's body and the service's figures on ``engine``."""
    async with scratch_database(engine) as url:
        async with orm(url):
            [srv] = await add_servers({"alpha": "http://127.0.0.1:9/unused"})
            await user_with_keys(TG_ID, srv, 3)
            headers = {"Authorization": f"Bearer {await api_token()}"}
        profile = RESULTS / f"profile-api_read-{engine}.txt" if args.profile else None
        async with service(f"api_read-{engine}", url, profile=profile) as (base, _):
            async with (
                aiohttp.ClientSession() as session,
                session.get(base + PATH, headers=headers) as resp,
            ):
                body = await resp.read()
                assert resp.status == 200, body
            return body, await loaded(base + PATH, headers, args)


def figures(engine: str, got: LoadResult, base: LoadResult) -> list[Figure]:
    note = f"({engine}, {got.tool}, {got.errors} errors)"
    return [
        Figure("api_read", "rps", got.rps, "req/s", base.rps, "bare aiohttp", "≥ 0.5×",
               got.rps >= 0.5 * base.rps, note),
        Figure("api_read", "p99", got.p99_ms, "ms", base.p99_ms, "bare aiohttp", "< 20 ms",
               got.p99_ms < 20, note),
        Figure("api_read", "p50", got.p50_ms, "ms", base.p50_ms, "bare aiohttp", note=note),
    ]  # fmt: skip


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("api_read: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    body, got = await real(args.db, args)
    print(f"api_read {args.db}: {got}", flush=True)
    base = await bare(body, args)  # right after, so both see the same machine
    print(f"api_read bare: {base}", flush=True)
    return figures(args.db, got, base)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_read")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument("--profile", action="store_true", help="pyinstrument the service")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if each_engine("bench.api_read", argv, args.db):
        return
    if args.loadgen == "auto":
        args.loadgen = "wrk" if wrk_available() else "aiohttp"
    report(f"api_read-{args.db}", asyncio.run(run(args)), keep=not args.profile)


if __name__ == "__main__":
    main()
