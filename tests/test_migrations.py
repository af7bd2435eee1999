"""The committed migrations build exactly what the models describe, on either database."""

import shutil
from pathlib import Path

import pytest
from aerich import Command
from tortoise import connections

from db.config import tortoise_config
from db.migrate import LOCATION


async def test_models_and_migrations_agree(database_url: str, tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(LOCATION, location)
    async with Command(
        tortoise_config(database_url), app="models", location=str(location)
    ) as command:
        generated = await command.migrate("check", no_input=True)
    assert generated == "", f"models changed without a migration: {generated}"
    assert sorted(p.name for p in (location / "models").glob("*.py")) == sorted(
        p.name for p in (Path(LOCATION) / "models").glob("*.py")
    )


async def test_key_rows_leave_room_for_the_syncs_updates(db: str) -> None:
    """PostgreSQL keeps half of each ``vpn_keys`` page free, so that a sync's rewrite of every
    key's usage stays on its page (no new index entries); SQLite has no such setting."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        pytest.skip("a PostgreSQL storage setting")
    _, rows = await conn.execute_query(
        "SELECT reloptions FROM pg_class WHERE relname = 'vpn_keys'"
    )
    assert rows[0]["reloptions"] == ["fillfactor=50"]
