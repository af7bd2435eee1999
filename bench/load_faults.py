"""Load + faults: N minutes of mixed API traffic while the emulator (own process) fails 4 % of
calls with 500/503 and drops the connection after acting on 1 % more. Targets: zero 500s from
the service; zero drift after the reconciler. Baseline: the same mix for a short while
after the faults are switched off.

``python -m bench.load_faults [--minutes 5] [--db sqlite]``
"""

import argparse
import asyncio
import os
import random
import signal
from collections import Counter
from typing import Any

import aiohttp

from bench.common import Figure, each_engine, emulator_process, log_path, report, service
from bench.dbs import add_servers, api_token, orm, pg_available, scratch_database
from bench.drift import drift, repair
from bench.load import LoadResult, Request, run_load
from db.models import VPNServer
from domain.context import Context
from vpn.pool import BackendPool

WORKERS = 8
FAIL_RATE, DROP_RATE = 0.04, 0.01


class Mix:
    """Each worker acts on its own users and keys; ids come from the answers."""

    def __init__(self, base: str, token: str, seed: int) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}
        self.rng = random.Random(seed)
        self.users: dict[int, list[int]] = {w: [] for w in range(WORKERS)}
        self.keys: dict[int, list[int]] = {w: [] for w in range(WORKERS)}
        self.next_user = Counter[int]()

    async def call(
        self, session: aiohttp.ClientSession, method: str, path: str, body: Any
    ) -> tuple[int, Any]:
        url = f"{self.base}/api/{path}"
        async with session.request(method, url, json=body, headers=self.headers) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    def request(self) -> Request:
        async def one(session: aiohttp.ClientSession, worker: int, number: int) -> int:
            return await self.step(session, worker)

        return one

    async def step(self, session: aiohttp.ClientSession, w: int) -> int:
        """One random operation of worker ``w``; the HTTP status."""
        if not self.users[w] or self.rng.random() < 0.05:
            return await self.new_user(session, w)
        tg = self.rng.choice(self.users[w])
        if not self.keys[w] or self.rng.random() < 0.15:
            return await self.new_key(session, w, tg)
        key = self.rng.choice(self.keys[w])
        status = await self.use_key(session, w, tg, key)
        if status in (404, 409) and key in self.keys[w]:  # gone meanwhile (a drop after acting)
            self.keys[w].remove(key)
        return status

    async def new_user(self, session: aiohttp.ClientSession, w: int) -> int:
        self.next_user[w] += 1
        tg = 10**9 + w * 10**6 + self.next_user[w]
        user = {"id": tg, "first_name": "L", "last_name": None, "username": f"l{tg}"}
        status, _ = await self.call(session, "POST", "user/", {"user": user})
        if status == 200:
            self.users[w].append(tg)
        return status

    async def new_key(self, session: aiohttp.ClientSession, w: int, tg: int) -> int:
        if self.rng.random() < 0.2:
            body: dict[str, Any] = {"command": "create_demo_token"}
            status, data = await self.call(session, "POST", f"vpn_token/{tg}/alpha/", body)
        else:
            body = {"command": "create_new_token", "tg_id": tg, "traffic_limit": 10**9}
            status, data = await self.call(session, "POST", "vpn_token/alpha/", body)
        if status == 201:
            self.keys[w].append(data["vpn_keys"][0]["id"])
        return status

    async def use_key(self, session: aiohttp.ClientSession, w: int, tg: int, key: int) -> int:
        keys, rng, roll = self.keys[w], self.rng, self.rng.random()
        if roll < 0.35:
            status, _ = await self.call(session, "GET", f"user/{tg}/vpn_keys/alpha/", None)
        elif roll < 0.75:
            body = rng.choice(CHANGES)(rng)
            status, _ = await self.call(session, "PATCH", f"vpn_token/{key}/alpha/", body)
        elif roll < 0.85:
            path, body = f"vpn_token/{key}/refresh/alpha/", {"command": "refresh_token"}
            status, data = await self.call(session, "POST", path, body)
            if status == 201:
                keys[keys.index(key)] = data["vpn_keys"][0]["id"]
        elif roll < 0.93:
            body = {"command": "add_user_to_token", "force": True}
            path = f"vpn_token/{key}/user/{rng.choice(self.users[w])}/alpha/"
            status, _ = await self.call(session, "PATCH", path, body)
        else:
            status, _ = await self.call(session, "DELETE", f"vpn_token/{key}/alpha/", None)
            if status == 200:
                keys.remove(key)
        return status


CHANGES = [
    lambda rng: {"command": "token_name", "name": f"n{rng.randrange(1000)}"},
    lambda rng: {"command": "token_is_active", "is_active": rng.random() < 0.5},
    lambda rng: {"command": "token_valid_date", "days": rng.randrange(1, 60)},
    lambda rng: {"command": "token_traffic_limit", "traffic_limit": rng.choice([None, 10**9])},
]


def unhandled(name: str) -> int:
    """How many unhandled errors the service logged."""
    return log_path(name).read_text(errors="replace").count("unhandled error")


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("load_faults: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    name = f"load_faults-{args.db}"
    log_path(name).write_text("")
    rates = ["--fail-rate", str(FAIL_RATE), "--drop-rate", str(DROP_RATE)]
    async with (
        scratch_database(args.db) as url,
        emulator_process("load_faults-emu", *rates) as (api_url, emulator_pid),
    ):
        async with orm(url):
            await add_servers({"alpha": api_url})
            token = await api_token()
        async with service(name, url, OUTLINE_TIMEOUT_SECONDS="2") as (base, _):
            mix = Mix(base, token, args.seed)
            seconds = args.minutes * 60
            faulty = await run_load(mix.request(), concurrency=WORKERS, seconds=seconds)
            os.kill(emulator_pid, signal.SIGUSR1)  # faults off
            calm = await run_load(mix.request(), concurrency=WORKERS, seconds=min(60, seconds / 5))
        async with orm(url):
            server = await VPNServer.get(name="alpha")
            pool = BackendPool(timeout=5)
            ctx = Context(pool=pool)
            before = await drift(ctx, server)
            done = await repair(ctx, server)
            after = await drift(ctx, server)
            await pool.close()
    return figures(args, faulty, calm, (before.total, after.total, done, unhandled(name)))


def figures(
    args: argparse.Namespace,
    faulty: LoadResult,
    calm: LoadResult,
    repaired: tuple[int, int, dict[str, int], int],
) -> list[Figure]:
    before, after, done, crashes = repaired
    print(f"load_faults faulty {faulty}\nload_faults calm {calm}")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(faulty.statuses.items()))
    fives = faulty.statuses[500] + calm.statuses[500]
    total = faulty.requests + calm.requests
    did = ", ".join(f"{k} {v}" for k, v in done.items() if v) or "nothing"
    return [
        Figure("load_faults", "HTTP 500 answers", fives, "", total, "requests", "0",
               fives == 0 and crashes == 0,
               f"({args.db}, {args.minutes:g} min; statuses under faults {statuses}; "
               f"{crashes} unhandled errors logged)"),
        Figure("load_faults", "drift after reconcile", after, "", before, "before reconcile",
               "0", after == 0, f"(reconciler: {did})"),
        Figure("load_faults", "throughput under faults", faulty.rps, "req/s", calm.rps,
               "faults off"),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load_faults")
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    args = parser.parse_args(argv)
    if not each_engine("bench.load_faults", argv, args.db):
        report(f"load_faults-{args.db}", asyncio.run(run(args)))


if __name__ == "__main__":
    main()
