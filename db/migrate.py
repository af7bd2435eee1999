"""Applying the committed aerich migrations to a database, and telling what is pending."""

from pathlib import Path

from aerich import Command
from tortoise.exceptions import OperationalError

from db.config import sqlite_file, tortoise_config
from db.connect import DatabaseNotReady, check_sqlite_file, connection_errors

LOCATION = str(Path(__file__).parent / "migrations")


def _create_sqlite_folder(url: str) -> None:
    path = sqlite_file(url)
    if path is not None and not path.startswith(":memory:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def apply_migrations(url: str) -> list[str]:
    """Bring the database at ``url`` up to the newest migration; returns what was applied."""
    return await ensure_migrated(url, apply=True)


def known_migrations() -> list[str]:
    """The names of every migration this version ships, oldest first."""
    return sorted(p.name for p in Path(LOCATION, "models").glob("*.py"))


async def _pending(command: Command) -> list[str]:
    try:
        return await command.heads()
    except OperationalError:  # no aerich table: never migrated
        return known_migrations()


async def ensure_migrated(url: str, *, apply: bool) -> list[str]:
    """Apply pending migrations when ``apply`` (returns them); else refuse if any is pending."""
    with connection_errors(url):
        _create_sqlite_folder(url)
        check_sqlite_file(url)
        async with Command(tortoise_config(url), app="models", location=LOCATION) as command:
            if apply:
                return await command.upgrade()
            pending = await _pending(command)
    if pending:
        raise DatabaseNotReady(
            f"the database has {len(pending)} migration(s) to apply: run "
            "`python main.py migrate` first (or serve with --migrate, or MIGRATE_ON_START=1)"
        )
    return []
