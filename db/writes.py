"""Small transactions in one round trip to the database, for writes on hot paths.

Through the ORM a transaction of two inserts is six round trips (``BEGIN``, the statements,
``COMMIT``); on SQLite each is a hand-off to the database thread. Here the rows are built by
the ORM's own field conversions (``insert_parts``: defaults and ``auto_now`` timestamps as
``Model.save`` would write them) and then written:

* on SQLite by ``sqlite_transaction``: a function run in the database thread inside
  ``BEGIN IMMEDIATE`` … ``COMMIT`` on the ORM's connection, under the ORM's lock, committed
  together with the ones concurrent callers asked for meanwhile (group commit: one wait for
  the disk for all of them);
* on PostgreSQL as one statement (a data-modifying CTE chains the writes), which is a
  transaction by itself.

Not for use inside an ORM transaction (``in_transaction``).
"""

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from tortoise import connections
from tortoise.backends.base.client import TransactionalDBClient
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


Work = Callable[[sqlite3.Connection], Any]


class _Group:
    """Group commit on SQLite: the transactions asked for while one is committing are
    committed together, in one ``BEGIN IMMEDIATE`` … ``COMMIT`` (one wait for the disk), each
    in a savepoint of its own so that one that fails is undone alone. Every caller's answer
    waits for the commit: a result means it is written. A caller that finds nothing being
    committed commits its own transaction at once, in its own task."""

    def __init__(self, client: SqliteClient) -> None:
        self.client = client
        self.busy = False
        self.queued: list[tuple[Work, asyncio.Future[Any]]] = []
        self.flusher: asyncio.Task[None] | None = None  # held: the loop keeps tasks weakly

    async def run(self, work: Work) -> Any:
        if self.busy:
            future = asyncio.get_running_loop().create_future()
            self.queued.append((work, future))
            return await future
        self.busy = True
        try:
            ((ok, value),) = await self._execute([work])
        finally:
            if self.queued:  # arrived meanwhile: committed together, by a task of their own
                self.flusher = asyncio.create_task(self._flush())
            else:
                self.busy = False
        if not ok:
            raise _translated(value)
        return value

    async def _execute(self, works: list[Work]) -> list[tuple[bool, Any]]:
        """``(True, result)`` or ``(False, exception)`` per work, once committed."""
        try:
            async with self.client.acquire_connection() as conn:  # the ORM's lock
                # aiosqlite runs a function in its thread with ``_execute`` (its every call does).
                return await conn._execute(_run, conn._conn, works)
        except Exception as exc:  # BEGIN or COMMIT failed: nothing of these is written
            return [(False, exc)] * len(works)

    async def _flush(self) -> None:
        batch: list[tuple[Work, asyncio.Future[Any]]] = []
        try:
            while self.queued:
                batch, self.queued = self.queued, []
                outcomes = await self._execute([work for work, _ in batch])
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller gave up waiting; the write stands
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(_translated(value))
        except BaseException:  # cancelled (shutting down): nobody waits in vain
            for _, future in batch + self.queued:
                future.cancel()
            raise
        finally:
            self.busy, self.flusher = False, None


_groups: WeakKeyDictionary[SqliteClient, _Group] = WeakKeyDictionary()


def _run(conn: sqlite3.Connection, works: list[Work]) -> list[tuple[bool, Any]]:
    """The works in one transaction, each in a savepoint of its own, in the SQLite thread."""
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            conn.execute("SAVEPOINT work")
            try:
                outcomes.append((True, work(conn)))
            except Exception as exc:
                conn.execute("ROLLBACK TO work")
                outcomes.append((False, exc))
            conn.execute("RELEASE work")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _translated(exc: Exception) -> Exception:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityError(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return OperationalError(exc)
    return exc


async def sqlite_transaction(work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work(connection)`` in the SQLite thread as a transaction of its own, committed
    together with those of concurrent callers (``_Group``)."""
    client = connections.get("default")
    group = _groups.get(client)
    if group is None:
        group = _groups[client] = _Group(client)
    return await group.run(work)


async def insert(instance: Model) -> None:
    """Insert a new row as ``instance.save()`` would; on SQLite committed with concurrent
    writes (``sqlite_transaction``). Raises ``IntegrityError`` as the ORM does."""
    client = connections.get("default")
    if not isinstance(client, SqliteClient) or isinstance(client, TransactionalDBClient):
        await instance.save()
        return
    table, columns, values = insert_parts(instance)
    sql = sqlite_sql(insert_sql(table, columns))
    rowid = await sqlite_transaction(lambda conn: conn.execute(sql, values).lastrowid)
    if instance.pk is None:
        instance.pk = rowid
    saved(instance)


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
