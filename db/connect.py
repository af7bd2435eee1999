"""Opening and closing the ORM's connections for the whole process."""

import logging

from tortoise import Tortoise

from db.config import tortoise_config

# These loggers print SQL parameters (access URLs, server URLs) at DEBUG level.
PARAMETER_LOGGERS = ("tortoise.db_client", "aiosqlite", "asyncpg")


def quiet_parameter_logs() -> None:
    """Keep the database drivers' parameter logging off, whatever the root level."""
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


async def open_database(url: str) -> None:
    """Initialise Tortoise for ``url``, visible to every task of the process."""
    quiet_parameter_logs()
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def close_database() -> None:
    """Close every ORM connection."""
    await Tortoise.close_connections()
