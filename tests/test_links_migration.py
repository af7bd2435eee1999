"""Keys that existed before dynamic links get a link id when the database is migrated."""

from pathlib import Path

from tortoise import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.connect import close_database, open_database
from tests.migration_steps import insert_keys, migrate_across, migration

MIGRATION = migration("_dynamic_links.py")


async def test_existing_keys_get_distinct_link_ids(
    empty_database_url: str, tmp_path: Path
) -> None:
    async def seed(db: BaseDBAsyncClient) -> None:
        await insert_keys(db, 3)

    applied = await migrate_across(empty_database_url, tmp_path, MIGRATION, seed)
    assert applied == [MIGRATION.name]
    await open_database(empty_database_url)
    async with in_transaction() as db:
        _, rows = await db.execute_query("SELECT link_id FROM vpn_keys")
    await close_database()
    ids = [row["link_id"] for row in rows]
    assert len(set(ids)) == 3 and all(len(i) == 16 for i in ids)
