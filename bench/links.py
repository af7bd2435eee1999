"""Dynamic link fetches: does timing tell an unknown secret from a deleted key's link?

``python -m bench.links [--rounds 30] [--per-round 40] [--db both]``

The real service (``bench.serve``, PUBLIC_URL set, fetch limit out of the way) over a scratch
database holding live and deleted keys. Each round fetches, in a shuffled interleaving, the
same number of unknown, deleted and live links, one at a time; a round's figure is its
median latency per kind. Reported: deleted / unknown and live / unknown ratios of those
medians (min, median and max over the rounds), and every status seen.
"""

import argparse
import asyncio
import random
import secrets
import statistics
import time
from collections import Counter

import aiohttp

from bench.common import Figure, each_engine, quiet, report, service
from bench.dbs import add_servers, orm, pg_available, scratch_database, user_with_keys
from db.models import KeyState, VPNKey
from domain.links.signing import SECRET_LENGTH, LinkSigner

PUBLIC_URL = "https://vpn.example.com"
LINK_SECRET = secrets.token_urlsafe(32)
KINDS = ("unknown", "deleted", "live")


async def seed(url: str, keys: int) -> dict[str, list[str]]:
    """Live and deleted keys with links; the fetch paths of each kind."""
    signer = LinkSigner(PUBLIC_URL, LINK_SECRET.encode())
    async with orm(url):
        [server] = await add_servers({"alpha": "http://127.0.0.1:9/unused"})
        rows = await user_with_keys(4242, server, 2 * keys)
        for n, key in enumerate(rows):
            key.link_id = secrets.token_urlsafe(12)
            key.state = KeyState.DELETED if n % 2 else KeyState.LIVE
            await key.save(update_fields=["link_id", "state"])
        live = await VPNKey.filter(state=KeyState.LIVE)
        deleted = await VPNKey.filter(state=KeyState.DELETED)
    return {
        "live": [f"/conf/{signer.secret(k)}" for k in live],
        "deleted": [f"/conf/{signer.secret(k)}" for k in deleted],
    }


async def rounds(base: str, paths: dict[str, list[str]], args: argparse.Namespace):
    """Per round: the median latency of each kind; and the statuses seen per kind."""
    medians: list[dict[str, float]] = []
    statuses: Counter[tuple[str, int]] = Counter()
    rng = random.Random(1)
    async with aiohttp.ClientSession(base) as session:
        for _ in range(args.rounds):
            plan = [kind for kind in KINDS for _ in range(args.per_round)]
            rng.shuffle(plan)
            seen: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for kind in plan:
                if kind == "unknown":
                    path = "/conf/" + secrets.token_urlsafe(SECRET_LENGTH)[:SECRET_LENGTH]
                else:
                    path = rng.choice(paths[kind])
                started = time.perf_counter()
                async with session.get(path) as response:
                    await response.read()
                seen[kind].append(time.perf_counter() - started)
                statuses[(kind, response.status)] += 1
            medians.append({kind: statistics.median(v) for kind, v in seen.items()})
    return medians, statuses


def spread(values: list[float]) -> str:
    return (
        f"min {min(values):.2f} / median {statistics.median(values):.2f} / max {max(values):.2f}"
    )


async def run(engine: str, args: argparse.Namespace) -> list[Figure]:
    async with scratch_database(engine) as url:
        paths = await seed(url, args.keys)
        env = {
            "PUBLIC_URL": PUBLIC_URL,
            "LINK_SECRET": LINK_SECRET,
            "LINK_FETCHES_PER_MINUTE": "1000000",
            "LOG_LEVEL": "WARNING",
            "RECONCILE_SECONDS": "3600",
        }
        async with service(f"links-{engine}", url, **env) as (base, _):
            await quiet()
            medians, statuses = await rounds(base, paths, args)
    unknown = [m["unknown"] for m in medians]
    figures = []
    for kind in ("deleted", "live"):
        ratios = [m[kind] / m["unknown"] for m in medians]
        figures.append(
            Figure(
                "links", f"{engine}: {kind} / unknown link latency", statistics.median(ratios),
                "×", note=f"({spread(ratios)} over {len(ratios)} rounds)",
            )
        )  # fmt: skip
    figures.append(
        Figure("links", f"{engine}: unknown link median latency",
               statistics.median(unknown) * 1000, "ms")
    )  # fmt: skip
    print(f"{engine}: statuses {dict(statuses)}")
    return figures


async def main_async(args: argparse.Namespace) -> None:
    figures = await run(args.db, args)
    report(f"links-{args.db}", figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.links", description=__doc__)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--per-round", type=int, default=40)
    parser.add_argument("--keys", type=int, default=200, help="live keys (as many deleted)")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    if each_engine("bench.links", argv, args.db):
        return
    if args.db == "postgres" and not asyncio.run(pg_available()):
        print("PostgreSQL is not available; skipped")
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
