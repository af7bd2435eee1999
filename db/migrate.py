"""Applying the committed aerich migrations to a database."""

from pathlib import Path

from aerich import Command

from db.config import tortoise_config

LOCATION = str(Path(__file__).parent / "migrations")


async def apply_migrations(url: str) -> list[str]:
    """Bring the database at ``url`` up to the newest migration; returns what was applied."""
    if url.startswith("sqlite://") and not url.startswith("sqlite://:memory:"):
        Path(url.removeprefix("sqlite://")).parent.mkdir(parents=True, exist_ok=True)
    async with Command(tortoise_config(url), app="models", location=LOCATION) as command:
        return await command.upgrade()
