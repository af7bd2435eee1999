"""Keys that existed before dynamic links get a link id when the database is migrated."""

import asyncio
import shutil
import sys
from pathlib import Path

from tortoise.transactions import in_transaction

from db.connect import close_database, open_database
from db.migrate import LOCATION

ROOT = Path(__file__).resolve().parent.parent
MIGRATION = next(Path(LOCATION, "models").glob("*_dynamic_links.py"))


UPGRADE = """
import asyncio, sys
from aerich import Command
from db.config import tortoise_config

async def main(url, location):
    async with Command(tortoise_config(url), app="models", location=location) as command:
        print(",".join(await command.upgrade()))

asyncio.run(main(*sys.argv[1:]))
"""


async def upgrade(url: str, location: Path) -> list[str]:
    """aerich in a child process (it cannot be initialised twice in one)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", UPGRADE, url, str(location),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return [name for name in out.decode().strip().split(",") if name]


async def test_existing_keys_get_distinct_link_ids(
    empty_database_url: str, tmp_path: Path
) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(LOCATION, location)
    (location / "models" / MIGRATION.name).unlink()
    await upgrade(empty_database_url, location)
    await open_database(empty_database_url)
    async with in_transaction() as db:
        await db.execute_query(
            "INSERT INTO vpn_servers (name, kind, api_url, is_active, created_at) "
            "VALUES ('alpha', 'outline', 'http://127.0.0.1:9/x', TRUE, CURRENT_TIMESTAMP)"
        )
        for n in range(3):
            await db.execute_query(
                "INSERT INTO vpn_keys (server_id, remote_id, name, state, is_active, is_demo, "
                "traffic_used, usage_baseline, traffic_reset, created_at, updated_at) VALUES "
                f"(1, '73{n:013d}', 'k{n}', 'live', TRUE, FALSE, 0, 0, 'no_reset', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
    await close_database()
    shutil.copy(MIGRATION, location / "models" / MIGRATION.name)
    assert await upgrade(empty_database_url, location) == [MIGRATION.name]
    await open_database(empty_database_url)
    async with in_transaction() as db:
        _, rows = await db.execute_query("SELECT link_id FROM vpn_keys")
    await close_database()
    ids = [row["link_id"] for row in rows]
    assert len(set(ids)) == 3 and all(len(i) == 16 for i in ids)
