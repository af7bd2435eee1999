"""Opening and closing the ORM's connections for the whole process."""

import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import asyncpg
from tortoise import Tortoise, connections
from tortoise.exceptions import DBConnectionError, OperationalError

from db import reads
from db.config import sqlite_file, tortoise_config

# These loggers print SQL parameters (access URLs, server URLs) at DEBUG level.
PARAMETER_LOGGERS = ("tortoise.db_client", "aiosqlite", "asyncpg")
# Messages of these errors name what failed (host, database, role), never a password.
UNREACHABLE = (OSError, DBConnectionError, asyncpg.PostgresError, TimeoutError)


class DatabaseNotReady(Exception):
    """The database cannot be used as it is; ``str()`` is one line that says what to do."""


def describe_url(url: str) -> str:
    """Where a ``DATABASE_URL`` points, without its password."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"SQLite database {sqlite_file(url)}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL database '{parts.path.lstrip('/')}' on {host}{port}"


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ if isinstance(exc, DBConnectionError) and exc.__cause__ else exc
    if isinstance(cause, OSError) and cause.errno:
        return os.strerror(cause.errno).lower()
    if isinstance(cause, OperationalError | sqlite3.OperationalError) and cause.args:
        return str(cause.args[0])
    return str(cause) or type(cause).__name__


@contextmanager
def connection_errors(url: str) -> Iterator[None]:
    """Turn a failure to reach or open the database into ``DatabaseNotReady``."""
    verb = "open" if url.startswith("sqlite:") else "reach"
    try:
        yield
    except UNREACHABLE as exc:
        raise DatabaseNotReady(f"cannot {verb} the {describe_url(url)}: {_reason(exc)}") from None
    except (OperationalError, sqlite3.OperationalError) as exc:
        if "unable to open" not in str(exc):
            raise
        raise DatabaseNotReady(f"cannot {verb} the {describe_url(url)}: {_reason(exc)}") from None


def check_sqlite_file(url: str) -> None:
    """Open a SQLite file once with the standard library (the async driver would leave a
    thread behind on failure); call it inside ``connection_errors``."""
    path = sqlite_file(url)
    if path is not None and not path.startswith(":memory:"):
        sqlite3.connect(path).close()


def quiet_parameter_logs() -> None:
    """Keep the database drivers' parameter logging off, whatever the root level."""
    for name in PARAMETER_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


async def open_database(url: str) -> None:
    """Initialise Tortoise for ``url``, visible to every task of the process, and connect."""
    quiet_parameter_logs()
    with connection_errors(url):
        check_sqlite_file(url)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        with connection_errors(url):
            await connections.get("default").execute_query("SELECT 1")
    except BaseException:
        await close_database()
        raise


async def close_database() -> None:
    """Close every ORM connection (and the plain reads' own)."""
    reads.close()
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
    file = sqlite_file(url)
    if file is None or file == ":memory:":
        return None
    path = Path(file)
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
