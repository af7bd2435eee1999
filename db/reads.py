"""Hot-path reads: one plain SQL query, plain rows back (no model hydration, no query builder).

SQL is written once with PostgreSQL's ``$1`` placeholders (SQLite reads them as ``?1``).
On SQLite the query runs in the event loop's own thread, on a read-only connection of its
own: in WAL mode a reader never waits for the writer, and a query of a few dozen µs costs
less than the hand-off to the ORM's database thread. Should that connection have to wait
anyway (another journal mode, a checkpoint), it does not: the query goes through the ORM's
connection instead. On PostgreSQL the query goes through the ORM's pool (asyncpg prepares
and caches each statement). Inside a transaction the ORM's connection is used, so a read
sees that transaction's own writes.
"""

import functools
import re
import sqlite3
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import OperationalError
from tortoise.fields import DatetimeField
from tortoise.models import Model

Row = dict[str, Any]
M = TypeVar("M", bound=Model)
_PLACEHOLDER = re.compile(r"\$(\d+)")
_sqlite: sqlite3.Connection | None = None
_sqlite_file = ""


@functools.lru_cache(maxsize=256)
def sqlite_sql(sql: str) -> str:
    """``$n`` placeholders as SQLite's ``?n`` (each statement converted once)."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def _reader(file: str) -> sqlite3.Connection | None:
    """This process's read-only connection to ``file`` (``None`` for an in-memory database)."""
    global _sqlite, _sqlite_file
    if file == ":memory:":
        return None
    if _sqlite is None or _sqlite_file != file:
        close()
        _sqlite = sqlite3.connect(file, isolation_level=None, check_same_thread=False)
        _sqlite.row_factory = sqlite3.Row
        _sqlite.execute("PRAGMA query_only = ON")
        _sqlite.execute("PRAGMA busy_timeout = 0")  # never block the event loop
        _sqlite_file = file
    return _sqlite


async def fetch(sql: str, *params: Any) -> list[Row]:
    """The rows of one ``SELECT`` (``$1``, ``$2``… placeholders), as dicts in column order."""
    client = connections.get("default")
    if isinstance(client, SqliteClient):
        reader = None if isinstance(client, TransactionalDBClient) else _reader(client.filename)
        query = sqlite_sql(sql)
        if reader is not None:
            try:
                return [dict(row) for row in reader.execute(query, params).fetchall()]
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):  # "database is locked": ask the ORM's thread
                    raise OperationalError(exc) from exc
        return await client.execute_query_dict(query, list(params))
    return await client.execute_query_dict(sql, list(params))


def as_model(model: type[M], row: Row) -> M:
    """A model instance from a row of all its columns, converted as the ORM's own reads do
    (SQLite's timestamp text is parsed in ``row`` by ``datetime.fromisoformat`` first: the
    same moment at a fraction of the cost of the ORM's parser)."""
    for column in _timestamp_columns(model):
        if row[column].__class__ is str:
            row[column] = datetime.fromisoformat(row[column])
    return model._init_from_db(**row)


@functools.cache
def _timestamp_columns(model: type[Model]) -> tuple[str, ...]:
    meta = model._meta
    fields = meta.fields_map
    return tuple(
        column
        for name, column in meta.fields_db_projection.items()
        if isinstance(fields[name], DatetimeField)
    )


def close() -> None:
    """Close the read-only SQLite connection (``db.connect.close_database`` calls this)."""
    global _sqlite, _sqlite_file
    if _sqlite is not None:
        _sqlite.close()
    _sqlite, _sqlite_file = None, ""


def utc(value: datetime | str | None) -> datetime | None:
    """A timestamp column as an aware UTC datetime (SQLite returns it as ISO text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
