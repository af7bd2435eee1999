"""API read path: ``GET api/user/<id>/vpn_keys/<srv>/`` (a user with 3 keys) under load, in
interleaved rounds against baselines on the same event loop: a bare aiohttp handler serving
the same JSON from memory, the raw-query anchor (the same one SQL query in a bare handler),
and the service's own read and reply in a bare handler (the service without its HTTP layers:
what the middlewares, auth, path validation and access log cost). The service runs as
configured by default (access log on) and with ``ACCESS_LOG=false``; on PostgreSQL also with
``--workers 2`` (scale-out), against the anchor in two processes on one port (what a second
process can gain on this machine at all).

``python -m bench.api_read [--seconds 10] [--rounds 3] [--connections 50] [--db both]``
"""

import argparse
import asyncio
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiohttp

from bench.common import (
    RESULTS,
    Figure,
    each_engine,
    free_port,
    interleaved,
    loop_factory_name,
    report,
    rounds_figure,
    service,
    spawn,
    stop,
    wait_http,
)
from bench.dbs import add_servers, api_token, orm, pg_available, scratch_database, user_with_keys
from bench.load import LoadResult, read_load, wrk_available

TG_ID = 424242
PATH = f"/api/user/{TG_ID}/vpn_keys/alpha/"
WARMUP_SECONDS = 2


@asynccontextmanager
async def bare(name: str, *args: str, copies: int = 1) -> AsyncIterator[str]:
    """A ``bench.bare`` server (``copies`` processes on one port); yields its base URL."""
    port = free_port()
    shared = ["--reuse-port"] if copies > 1 else []
    procs = []
    try:
        for copy in range(copies):
            command = ["-m", "bench.bare", str(port), *args, *shared]
            procs.append((await spawn(f"{name}-{copy}", command))[0])
            await wait_http(f"http://127.0.0.1:{port}/")
        yield f"http://127.0.0.1:{port}"
    finally:
        for proc in procs:
            await stop(proc)


async def seed(url: str) -> dict[str, str]:
    """The user with 3 keys on ``alpha``; the Authorization header of a new token."""
    async with orm(url):
        [srv] = await add_servers({"alpha": "http://127.0.0.1:9/unused"})
        await user_with_keys(TG_ID, srv, 3)
        return {"Authorization": f"Bearer {await api_token()}"}


async def body_of(base: str, headers: dict[str, str]) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(base + PATH, headers=headers) as r:
        body = await r.read()
        assert r.status == 200, body
        return body


def rps_ok(value: float, ratio: float) -> bool:
    return ratio >= 0.3


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("api_read: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    async with scratch_database(args.db) as url, AsyncExitStack() as stack:
        headers = await seed(url)
        profile = RESULTS / f"profile-api_read-{args.db}.txt" if args.profile else None
        base, _ = await stack.enter_async_context(
            service(f"api_read-{args.db}", url, profile=profile)
        )
        targets = {"service": (base, headers)}
        quiet, _ = await stack.enter_async_context(
            service(f"api_read-{args.db}-quiet", url, ACCESS_LOG="false")
        )
        targets["service, ACCESS_LOG=false"] = (quiet, headers)
        if args.db == "postgres":
            two, _ = await stack.enter_async_context(
                service(f"api_read-{args.db}-2", url, workers=2)
            )
            targets["service ×2"] = (two, headers)
        body_file = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "body.json"
        body_file.write_bytes(await body_of(base, headers))
        targets["bare"] = (await stack.enter_async_context(bare("bare", str(body_file))), {})
        anchor = await stack.enter_async_context(
            bare("anchor", "--query", url, str(TG_ID), "alpha")
        )
        targets["anchor"] = (anchor, {})
        own = bare("view", "--view", url, str(TG_ID), "alpha")
        targets["view"] = (await stack.enter_async_context(own), {})
        if args.db == "postgres":
            anchors = bare("anchor2", "--query", url, str(TG_ID), "alpha", copies=2)
            targets["anchor ×2"] = (await stack.enter_async_context(anchors), {})
        load = {"connections": args.connections, "tool": args.loadgen}

        def measure(target: tuple[str, dict[str, str]]):
            async def once() -> LoadResult:
                return await read_load(target[0] + PATH, target[1], seconds=args.seconds, **load)

            return once

        for target in targets.values():  # warm-up
            await read_load(target[0] + PATH, target[1], seconds=WARMUP_SECONDS, **load)
        got = await interleaved(args.rounds, {name: measure(t) for name, t in targets.items()})
    return figures(args, got)


def figures(args: argparse.Namespace, got: dict[str, list[LoadResult]]) -> list[Figure]:
    loop = loop_factory_name()
    errors = sum(r.errors for results in got.values() for r in results)
    note = f"({args.db}, {args.connections} connections, {loop}, {args.rounds} rounds, "
    note += f"{errors} errors)"
    rps = {name: [r.rps for r in results] for name, results in got.items()}
    p99 = [r.p99_ms for r in got["service"]]
    found = [
        rounds_figure("api_read", "rps", rps["service"], "req/s", rps["bare"], "bare aiohttp",
                      "≥ 0.3×", rps_ok, note),
        rounds_figure("api_read", "p99", p99, "ms", [r.p99_ms for r in got["bare"]],
                      "bare aiohttp", "< 20 ms", lambda v, r: v < 20, note),
        rounds_figure("api_read", "rps vs raw-query anchor", rps["service"], "req/s",
                      rps["anchor"], "one raw query, bare handler", note=note),
        rounds_figure("api_read", "raw-query anchor rps", rps["anchor"], "req/s", rps["bare"],
                      "bare aiohttp", note=note),
        # The service's read and reply with none of its HTTP layers: what those layers cost.
        rounds_figure("api_read", "view without HTTP layers rps", rps["view"], "req/s",
                      rps["bare"], "bare aiohttp", note=note),
        rounds_figure("api_read", "rps vs view without HTTP layers", rps["service"], "req/s",
                      rps["view"], "the same read, no HTTP layers", note=note),
    ]  # fmt: skip
    quiet = "service, ACCESS_LOG=false"
    found += [
        rounds_figure("api_read", "rps, ACCESS_LOG=false", rps[quiet], "req/s", rps["bare"],
                      "bare aiohttp", "≥ 0.3×", rps_ok, note),
        rounds_figure("api_read", "p99, ACCESS_LOG=false", [r.p99_ms for r in got[quiet]], "ms",
                      [r.p99_ms for r in got["bare"]], "bare aiohttp", "< 20 ms",
                      lambda v, r: v < 20, note),
    ]  # fmt: skip
    if "service ×2" in rps:
        found += [
            rounds_figure("api_read", "rps, 2 processes", rps["service ×2"], "req/s",
                          rps["service"], "1 process", "≥ 1.7×", lambda v, r: r >= 1.7, note),
            # What two processes can gain here at all: wrk and the database share the cores.
            rounds_figure("api_read", "raw-query anchor rps, 2 processes", rps["anchor ×2"],
                          "req/s", rps["anchor"], "anchor, 1 process", note=note),
        ]  # fmt: skip
    return found


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_read")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=3)
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
