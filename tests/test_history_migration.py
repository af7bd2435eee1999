"""The traffic history keeps its rows when its key check is dropped, and stays one row per
key and hour."""

from pathlib import Path

import pytest
from tortoise import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db.connect import close_database, open_database
from tests.migration_steps import insert_keys, migrate_across, migration

MIGRATION = migration("_traffic_history_no_key_check.py")
INSERT = (
    "INSERT INTO traffic_buckets (key_id, hour, bytes) "
    "VALUES ({0}, '2026-12-01 10:00:00+00:00', {1})"
)


async def test_history_rows_survive_and_stay_unique(
    empty_database_url: str, tmp_path: Path
) -> None:
    async def seed(db: BaseDBAsyncClient) -> None:
        await insert_keys(db, 2)
        await db.execute_query(INSERT.format(1, 700))
        await db.execute_query(INSERT.format(2, 900))

    applied = await migrate_across(empty_database_url, tmp_path, MIGRATION, seed)
    assert applied == [MIGRATION.name]
    await open_database(empty_database_url)
    try:
        async with in_transaction() as db:
            _, rows = await db.execute_query(
                "SELECT key_id, bytes FROM traffic_buckets ORDER BY key_id"
            )
            assert [(r["key_id"], r["bytes"]) for r in rows] == [(1, 700), (2, 900)]
            await db.execute_query(INSERT.format(3, 5))  # no key check any more
        with pytest.raises(IntegrityError):
            async with in_transaction() as db:
                await db.execute_query(INSERT.format(1, 1))
        async with in_transaction() as db:
            await db.execute_query(INSERT.format(4, 1))
            _, rows = await db.execute_query("SELECT id FROM traffic_buckets WHERE key_id = 4")
            assert rows[0]["id"] > 3  # ids go on past the copied rows
    finally:
        await close_database()
