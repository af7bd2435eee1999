"""Small transactions in one round trip to the database, for writes on hot paths.

Through the ORM a transaction of two inserts is six round trips (``BEGIN``, the statements,
``COMMIT``); on SQLite each is a hand-off to the database thread. Here the rows are built by
the ORM's own field conversions (``insert_parts``: defaults and ``auto_now`` timestamps as
``Model.save`` would write them) and then written:

* on SQLite by ``sqlite_transaction``: a function run in the database thread that does
  ``BEGIN IMMEDIATE`` … ``COMMIT`` on the ORM's connection, under the ORM's lock;
* on PostgreSQL as one statement (a data-modifying CTE chains the writes), which is a
  transaction by itself.

Not for use inside an ORM transaction (``in_transaction``).
"""

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from tortoise import connections
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model

from db.reads import sqlite_sql

T = TypeVar("T")


def on_sqlite() -> bool:
    """Whether the ORM's default connection is SQLite."""
    return isinstance(connections.get("default"), SqliteClient)


def insert_parts(instance: Model) -> tuple[str, list[str], list[Any]]:
    """Table, columns and database values of a new row, exactly as the ORM would insert it.

    Fills the instance's ``auto_now``/``auto_now_add`` fields as saving it would.
    """
    meta = instance._meta
    names = [name for name in meta.fields_db_projection if not meta.fields_map[name].generated]
    columns = [meta.fields_db_projection[name] for name in names]
    values = [meta.fields_map[n].to_db_value(getattr(instance, n), instance) for n in names]
    return meta.db_table, columns, values


def update_parts(instance: Model, names: list[str]) -> tuple[str, list[Any]]:
    """``column = $1, …`` for the fields ``names`` of ``instance``, and their database values
    as ``Model.save`` would write them (an ``auto_now`` field among them is set to now)."""
    meta = instance._meta
    column = meta.fields_db_projection
    values = [meta.fields_map[n].to_db_value(getattr(instance, n), instance) for n in names]
    return ", ".join(f"{column[n]} = ${i}" for i, n in enumerate(names, 1)), values


def insert_sql(table: str, columns: list[str], first: int = 1) -> str:
    """``INSERT INTO table (columns) VALUES ($first, …)``."""
    marks = ", ".join(f"${first + n}" for n in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def saved(instance: Model) -> None:
    """Mark an instance written by this module as stored (a later ``save`` updates it)."""
    instance._saved_in_db = True


def _transaction(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = work(conn)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


async def sqlite_transaction(work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work(connection)`` as one transaction in the SQLite thread: one hand-off."""
    client = connections.get("default")
    async with client.acquire_connection() as conn:  # the ORM's lock: no other statement
        try:
            # aiosqlite runs a function in its thread with ``_execute`` (its every call does).
            return await conn._execute(_transaction, conn._conn, work)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(exc) from exc
        except sqlite3.OperationalError as exc:
            raise OperationalError(exc) from exc


async def with_row(statement: str, params: list[Any], row: Model) -> bool:
    """Run ``statement`` (``$n`` placeholders; it writes one row at most) and, when it wrote
    a row, insert ``row`` too: one transaction, one round trip. Whether it wrote."""
    table, columns, values = insert_parts(row)
    if on_sqlite():
        first, then = sqlite_sql(statement), sqlite_sql(insert_sql(table, columns))

        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute(first, params).rowcount != 1:
                return False
            conn.execute(then, values)
            return True

        return await sqlite_transaction(work)
    start = len(params) + 1
    marks = ", ".join(f"${start + n}" for n in range(len(columns)))
    sql = (
        f"WITH written AS ({statement} RETURNING 1) "
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {marks} FROM written RETURNING 1"
    )
    client = connections.get("default")
    return bool(await client.execute_query_dict(sql, [*params, *values]))
