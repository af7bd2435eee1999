"""The process the kill drill kills: create / refresh / delete in a loop through the domain.

``python -m bench.kill_driver SERVER [WORKERS]`` with DATABASE_URL set; prints READY once the
database is open, then runs until killed (or for at most 60 s). Every third key is kept.
"""

import asyncio
import sys
import time

from db.connect import open_database
from domain import audit
from domain.context import Context
from domain.errors import DomainError
from domain.keys import changes, issuing
from domain.settings import Settings
from vpn.pool import BackendPool

MAX_SECONDS = 60


async def cycle(ctx: Context, server: str, deadline: float) -> None:
    """One worker's loop of operations."""
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            key = await issuing.create_key(ctx, server=server, name=f"drill {n}", actor=audit.CLI)
            key = await issuing.refresh_key(ctx, key_id=key.id, server=server, actor=audit.CLI)
            if n % 3:
                await changes.delete_key(ctx, key_id=key.id, server=server, actor=audit.CLI)
        except DomainError:
            await asyncio.sleep(0.01)


async def main(server: str, workers: int) -> None:
    settings = Settings()
    await open_database(settings.database_url)
    ctx = Context(pool=BackendPool(timeout=settings.outline_timeout_seconds))
    print("READY", flush=True)
    deadline = time.monotonic() + MAX_SECONDS
    await asyncio.gather(*(cycle(ctx, server, deadline) for _ in range(workers)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4))
