"""A consistent read of every table while the service keeps writing.

SQLite: the online backup API copies the database file under one read transaction (WAL lets
writers go on), and the copy is read. PostgreSQL: one ``REPEATABLE READ READ ONLY``
transaction on a connection of its own sees a single point in time.
"""

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from db.config import sqlite_file
from domain.operations.tables import Table

CHUNK = 2000
MIGRATIONS_SQL = "SELECT version FROM aerich WHERE app = 'models' ORDER BY id"
Rows = list[tuple[Any, ...]]


def select_all(table: Table) -> str:
    """Every row of ``table``, columns in backup order, by primary key."""
    columns = ", ".join(f'"{c}"' for c in table.columns)
    return f'SELECT {columns} FROM "{table.name}" ORDER BY "{table.pk}"'


def sqlite_path(database_url: str) -> Path:
    """The file behind a ``sqlite://`` URL."""
    return Path(sqlite_file(database_url) or "")


def postgres_dsn(database_url: str) -> str:
    """The URL asyncpg takes (Tortoise's options in the query string dropped)."""
    parts = urlsplit(database_url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


def copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy of ``source`` while others write to it."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def read_sqlite(path: Path, tables: list[Table]) -> Iterator[tuple[Table | None, Rows]]:
    """The applied migrations (table ``None``), then each table's rows in chunks."""
    with closing(sqlite3.connect(path)) as conn:
        yield None, conn.execute(MIGRATIONS_SQL).fetchall()
        for table in tables:
            cursor = conn.execute(select_all(table))
            while rows := cursor.fetchmany(CHUNK):
                yield table, rows


async def read_postgres(dsn: str, tables: list[Table]) -> AsyncIterator[tuple[Table | None, Rows]]:
    """As ``read_sqlite``, all inside one repeatable-read snapshot."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            yield None, [tuple(r) for r in await conn.fetch(MIGRATIONS_SQL)]
            for table in tables:
                cursor = await conn.cursor(select_all(table))
                while rows := await cursor.fetch(CHUNK):
                    yield table, [tuple(r) for r in rows]
    finally:
        await conn.close()
