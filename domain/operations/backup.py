"""Backups: one portable file that restores into SQLite or PostgreSQL, taken while serving.

The file is gzip-compressed JSON Lines:

* line 1, the header: ``{"format": "vpnkeys-backup", "version": 1, "created_at", "source",
  "migrations": [...], "tables": {name: [column, ...]}}``;
* one line per row, ``[table, [value, ...]]``, values as plain JSON (datetimes ISO 8601,
  bytes base64), tables parents first;
* the last line, ``{"end": {table: row count}}``: a file without it is incomplete.

It holds secrets (server API URLs, access URLs): keep backups as private as the database.
"""

import asyncio
import gzip
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import IO, Any

from domain.operations import snapshot
from domain.operations.tables import Table, service_tables, to_json

FORMAT = "vpnkeys-backup"
VERSION = 1


@dataclass
class BackupWriter:
    """Writes one backup file; rows are converted to JSON as they come."""

    out: IO[str]
    counts: dict[str, int] = field(default_factory=dict)

    def header(
        self, created_at: datetime, source: str, migrations: list[str], tables: list[Table]
    ):
        """The first line."""
        head = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": created_at.isoformat(),
            "source": source,
            "migrations": migrations,
            "tables": {t.name: t.columns for t in tables},
        }
        self._line(head)

    def rows(self, table: Table, rows: snapshot.Rows) -> None:
        """Rows of one table, in column order."""
        columns = [table.fields[c] for c in table.columns]
        for row in rows:
            self._line([table.name, [to_json(f, v) for f, v in zip(columns, row, strict=True)]])
        self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)

    def end(self, tables: list[Table]) -> None:
        """The last line: how many rows each table has."""
        self._line({"end": {t.name: self.counts.get(t.name, 0) for t in tables}})

    def _line(self, value: Any) -> None:
        self.out.write(json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n")


@contextmanager
def _atomic(target: Path) -> Iterator[IO[str]]:
    """A gzip text file that appears at ``target`` only once it is complete."""
    partial = target.with_name(f".{target.name}.partial")
    try:
        with gzip.open(partial, "wt", encoding="utf-8") as out:
            yield out
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _backup_sqlite(source: Path, target: Path, tables: list[Table], now: datetime) -> dict:
    with TemporaryDirectory(prefix="vpnkeys-backup-") as folder:
        copy = Path(folder) / "copy.sqlite3"
        snapshot.copy_sqlite(source, copy)
        with _atomic(target) as out:
            writer = BackupWriter(out)
            for table, rows in snapshot.read_sqlite(copy, tables):
                if table is None:
                    writer.header(now, "sqlite", [r[0] for r in rows], tables)
                else:
                    writer.rows(table, rows)
            writer.end(tables)
    return writer.counts


async def _backup_postgres(url: str, target: Path, tables: list[Table], now: datetime) -> dict:
    with _atomic(target) as out:
        writer = BackupWriter(out)
        async for table, rows in snapshot.read_postgres(snapshot.postgres_dsn(url), tables):
            if table is None:
                writer.header(now, "postgres", [r[0] for r in rows], tables)
            else:
                await asyncio.to_thread(writer.rows, table, rows)
        writer.end(tables)
    return writer.counts


async def write_backup(database_url: str, target: Path, now: datetime) -> dict[str, int]:
    """Snapshot the (open, serving) database at ``database_url`` into ``target``; row counts."""
    tables = service_tables()
    if database_url.startswith("sqlite://"):
        source = snapshot.sqlite_path(database_url)
        return await asyncio.to_thread(_backup_sqlite, source, target, tables, now)
    return await _backup_postgres(database_url, target, tables, now)
