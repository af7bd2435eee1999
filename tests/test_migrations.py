"""The committed migrations build exactly what the models describe, on either database."""

import shutil
from pathlib import Path

from aerich import Command

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
