"""Opening and closing the ORM's connections for the whole process."""

import fcntl
import logging
from pathlib import Path
from typing import IO

from tortoise import Tortoise

from db.config import connection_config, tortoise_config

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


class DatabaseInUse(Exception):
    """Another process already serves this SQLite database."""


def claim_sqlite_for_serving(url: str) -> IO[bytes] | None:
    """Make this the one serving process of a SQLite file (kept until the process exits).

    SQLite is the single-process default: a second ``serve`` on the same file is refused
    (one-shot commands such as ``reconcile`` may still run beside it). The claim is an
    exclusive ``flock`` on ``<file>.serving``, released by the kernel when the process dies.
    Returns the open lock file (keep it referenced), or ``None`` for other databases.
    """
    config = connection_config(url)
    if isinstance(config, str) or config["credentials"]["file_path"] == ":memory:":
        return None
    path = Path(config["credentials"]["file_path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = open(f"{path}.serving", "ab")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(claim, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        claim.close()
        raise DatabaseInUse(
            f"another process already serves the SQLite database {path}; SQLite serves one "
            "process (stop it, or use PostgreSQL to run several)"
        ) from None
    return claim
