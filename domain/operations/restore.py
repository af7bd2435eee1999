"""Restoring a backup file into the open (migrated) database, whichever kind it is.

Everything happens in one transaction: a refused or broken restore changes nothing. A
database that holds any row is refused unless ``replace`` is given, which empties it first.
"""

import asyncio
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.migrate import known_migrations
from domain.errors import Conflict, Invalid
from domain.operations.backup import FORMAT, VERSION
from domain.operations.tables import Table, service_tables, to_database

CHUNK = 1000


@dataclass
class Pending:
    """Rows read for one table, and the values its second pass sets."""

    table: Table
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    later: list[tuple[str, Any, Any]] = field(default_factory=list)  # (column, value, pk)


def _lines(path: Path) -> Iterator[Any]:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            for line in source:
                yield json.loads(line)
    except (OSError, EOFError, ValueError) as exc:
        raise Invalid(f"{path} is not a readable backup file ({type(exc).__name__})") from None


def _check_header(head: Any, tables: dict[str, Table]) -> dict[str, list[str]]:
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        raise Invalid("not a vpnkeys backup file")
    if head.get("version") != VERSION:
        raise Invalid(f"backup format version {head.get('version')} is not supported")
    newer = set(head["migrations"]) - set(known_migrations())
    if newer:
        raise Invalid(f"the backup was made by a newer version (migration {min(newer)})")
    for name, columns in head["tables"].items():
        if name not in tables:
            raise Invalid(f"the backup has a table this version does not know: {name}")
        unknown = set(columns) - set(tables[name].columns)
        if unknown:
            raise Invalid(
                f"the backup has columns this version does not know: {name}.{min(unknown)}"
            )
    return head["tables"]


def _placeholders(conn: BaseDBAsyncClient, count: int, start: int = 1) -> list[str]:
    if conn.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(start, start + count)]
    return ["?"] * count


async def _is_empty(conn: BaseDBAsyncClient, tables: list[Table]) -> bool:
    for table in tables:
        _, rows = await conn.execute_query(f'SELECT 1 FROM "{table.name}" LIMIT 1')
        if rows:
            return False
    return True


async def _flush(conn: BaseDBAsyncClient, pending: Pending) -> None:
    if not pending.rows:
        return
    table, names = (
        pending.table,
        pending.columns + [c for c in pending.table.columns if c not in pending.columns],
    )
    defaults = [_default(table, c) for c in names[len(pending.columns) :]]
    columns = ", ".join(f'"{c}"' for c in names)
    marks = ", ".join(_placeholders(conn, len(names)))
    sql = f'INSERT INTO "{table.name}" ({columns}) VALUES ({marks})'
    await conn.execute_many(sql, [row + defaults for row in pending.rows])
    pending.rows.clear()


def _default(table: Table, column: str) -> Any:
    """A column the backup lacks (it predates it): the model's default."""
    field_ = table.fields[column]
    value = field_.default() if callable(field_.default) else field_.default
    return to_database(field_, value, table.model)


def _take(pending: Pending, values: list[Any], restored: set[str]) -> None:
    table = pending.table
    row = [
        to_database(table.fields[c], v, table.model)
        for c, v in zip(pending.columns, values, strict=True)
    ]
    pk = row[pending.columns.index(table.pk)]
    for i, column in enumerate(pending.columns):
        ref = table.references.get(column)
        if ref is not None and ref not in restored and row[i] is not None:
            pending.later.append((column, row[i], pk))  # its parent row may come later
            row[i] = None
    pending.rows.append(row)


async def _second_pass(conn: BaseDBAsyncClient, pending: Pending) -> None:
    table = pending.table
    for column in {c for c, _, _ in pending.later}:
        set_mark, where_mark = _placeholders(conn, 2)
        sql = (
            f'UPDATE "{table.name}" SET "{column}" = {set_mark} WHERE "{table.pk}" = {where_mark}'
        )
        await conn.execute_many(sql, [[v, pk] for c, v, pk in pending.later if c == column])


async def _move_sequences(conn: BaseDBAsyncClient, tables: list[Table]) -> None:
    if conn.capabilities.dialect != "postgres":
        return  # SQLite's AUTOINCREMENT follows the largest id inserted
    for table in (t for t in tables if t.generated_pk):
        await conn.execute_query(
            f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{table.pk}'), "
            f'COALESCE(MAX("{table.pk}"), 1), MAX("{table.pk}") IS NOT NULL) FROM "{table.name}"'
        )


async def _next(lines: Iterator[Any]) -> Any:
    return await asyncio.to_thread(next, lines, None)


async def restore_backup(path: Path, *, replace: bool = False) -> dict[str, int]:
    """Load the backup at ``path`` into the open database; the row count of each table."""
    tables = service_tables()
    by_name = {t.name: t for t in tables}
    lines = _lines(path)
    columns = _check_header(await _next(lines), by_name)
    counts: dict[str, int] = {}
    async with in_transaction() as conn:
        if not await _is_empty(conn, tables):
            if not replace:
                raise Conflict("the database is not empty: restore into a new one, or use --force")
            for table in reversed(tables):
                await conn.execute_query(f'DELETE FROM "{table.name}"')
        seen: list[Pending] = []
        while isinstance(line := await _next(lines), list):
            name, values = line
            if not seen or seen[-1].table.name != name:
                if seen:
                    await _flush(conn, seen[-1])
                seen.append(Pending(by_name[name], columns[name]))
            _take(seen[-1], values, {p.table.name for p in seen[:-1]})
            counts[name] = counts.get(name, 0) + 1
            if len(seen[-1].rows) >= CHUNK:
                await _flush(conn, seen[-1])
        if seen:
            await _flush(conn, seen[-1])
        if not isinstance(line, dict) or {k: v for k, v in line["end"].items() if v} != counts:
            raise Invalid(f"{path} is incomplete: restore a complete backup")
        for pending in seen:
            await _second_pass(conn, pending)
        await _move_sequences(conn, tables)
    return counts
