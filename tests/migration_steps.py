"""Applying migrations one step at a time, to test what a migration does to existing data."""

import asyncio
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tortoise import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.connect import close_database, open_database
from db.migrate import LOCATION

ROOT = Path(__file__).resolve().parent.parent

UPGRADE = """
import asyncio, sys
from aerich import Command
from db.config import tortoise_config

async def main(url, location):
    async with Command(tortoise_config(url), app="models", location=location) as command:
        print(",".join(await command.upgrade()))

asyncio.run(main(*sys.argv[1:]))
"""


def migration(suffix: str) -> Path:
    """The committed migration whose file name ends in ``suffix``."""
    return next(Path(LOCATION, "models").glob(f"*{suffix}"))


async def upgrade(url: str, location: Path) -> list[str]:
    """aerich in a child process (it cannot be initialised twice in one)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPGRADE, url, str(location),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return [name for name in out.decode().strip().split(",") if name]


async def migrate_across(
    url: str, tmp_path: Path, step: Path, seed: Callable[[BaseDBAsyncClient], Awaitable[None]]
) -> list[str]:
    """Migrate ``url`` up to all but ``step``, write ``seed``'s rows in a transaction, then
    apply ``step``; returns what that last upgrade applied."""
    location = tmp_path / "migrations"
    shutil.copytree(LOCATION, location)
    (location / "models" / step.name).unlink()
    await upgrade(url, location)
    await open_database(url)
    async with in_transaction() as db:
        await seed(db)
    await close_database()
    shutil.copy(step, location / "models" / step.name)
    return await upgrade(url, location)


async def insert_keys(db: BaseDBAsyncClient, count: int) -> None:
    """A server and ``count`` live keys on it (ids 1..count), in plain SQL: the models may
    describe columns the database does not have yet."""
    await db.execute_query(
        "INSERT INTO vpn_servers (name, kind, api_url, is_active, created_at) "
        "VALUES ('alpha', 'outline', 'http://127.0.0.1:9/x', TRUE, CURRENT_TIMESTAMP)"
    )
    for n in range(count):
        await db.execute_query(
            "INSERT INTO vpn_keys (server_id, remote_id, name, state, is_active, is_demo, "
            "traffic_used, usage_baseline, traffic_reset, created_at, updated_at) VALUES "
            f"(1, '73{n:013d}', 'k{n}', 'live', TRUE, FALSE, 0, 0, 'no_reset', "
            "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
