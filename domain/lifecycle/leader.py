"""Which process runs the lifecycle worker: one at a time, with takeover.

On PostgreSQL the leader holds a session advisory lock on a dedicated connection; the
lock goes away with that connection (process exit, crash, network loss), and whichever
process asks next takes over. SQLite serves one process, which always leads.
"""

import asyncio
import logging
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from domain.redact import describe

logger = logging.getLogger(__name__)
# Arbitrary but fixed: every process of this service asks for the same lock.
LOCK_ID = 0x766B_776F_726B  # "vkwork"
_CHECK_TIMEOUT = 5.0


class Leadership(Protocol):
    """A lock on running the worker."""

    async def try_acquire(self) -> bool:
        """Take the lock if nobody holds it; ``True`` when this process now leads."""

    async def still_held(self) -> bool:
        """Whether the lock is still ours (``False`` once its connection is gone)."""

    async def release(self) -> None:
        """Give the lock up."""


class SoleLeader:
    """The only process there is (SQLite)."""

    async def try_acquire(self) -> bool:
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLockLeader:
    """``pg_try_advisory_lock`` held on a connection of its own."""

    def __init__(self, dsn: str, lock_id: int = LOCK_ID) -> None:
        self._dsn = dsn
        self._lock_id = lock_id
        self._conn: asyncpg.Connection | None = None

    async def try_acquire(self) -> bool:
        try:
            conn = await asyncpg.connect(self._dsn, timeout=_CHECK_TIMEOUT)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            logger.warning("leader election: database unreachable: %s", describe(exc))
            return False
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_id)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            got = False
        except BaseException:
            conn.terminate()  # cancelled mid-question: never leave a lock behind
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def still_held(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), _CHECK_TIMEOUT)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), _CHECK_TIMEOUT)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()


def is_postgres(database_url: str) -> bool:
    """Whether ``database_url`` names a PostgreSQL database."""
    return urlsplit(database_url).scheme in ("postgres", "postgresql", "asyncpg")


def leadership_for(database_url: str) -> Leadership:
    """The leader election that fits the database behind ``database_url``."""
    parts = urlsplit(database_url)
    if is_postgres(database_url):
        # asyncpg takes the URL without Tortoise's pool options in the query string.
        dsn = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
        return AdvisoryLockLeader(dsn)
    return SoleLeader()
