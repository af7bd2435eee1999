"""Backups taken while the service serves and writes, restored into SQLite and PostgreSQL;
scheduled backups, and backups this version must refuse."""

import asyncio
import gzip
import json
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tortoise import connections
from tortoise.backends.base.executor import EXECUTOR_CACHE

from db.connect import close_database, open_database
from db.models import ApiToken
from domain.accounts import tokens
from domain.context import Context, utcnow
from domain.errors import Invalid
from domain.operations.backup import write_backup
from domain.operations.restore import restore_backup
from domain.operations.schedule import backup_if_due, backup_name, backups_in
from domain.operations.tables import service_tables
from tests.backup_data import assert_same_rows, seed_every_table, table_rows
from tests.conftest import ON_POSTGRES, TEMPLATE_DB, _pg_admin, _pg_url
from tests.serving import cli_env, run_main, serving
from vpn.emulator import RunningEmulator, start_emulator

WRITERS = 8
ROUNDS = 6
NewDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def new_database(template_url: str, tmp_path: Path) -> AsyncIterator[NewDatabase]:
    """Makes empty, migrated databases: ``await new_database("sqlite" | "postgres")``."""
    made: list[str] = []

    async def make(kind: str) -> str:
        if kind == "sqlite":
            path = tmp_path / f"{uuid.uuid4().hex[:8]}.sqlite3"
            if template_url.startswith("sqlite://"):
                shutil.copy(template_url.removeprefix("sqlite://"), path)
            else:
                await run_main(cli_env(f"sqlite://{path}"), "migrate")
            return f"sqlite://{path}"
        name = f"t_bk_{uuid.uuid4().hex[:10]}"
        await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        made.append(name)
        return _pg_url(name)

    yield make
    for name in made:
        await _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def kinds() -> list[str]:
    return ["sqlite", "postgres"] if ON_POSTGRES else ["sqlite"]


def read_backup(path: Path) -> tuple[dict[str, Any], dict[str, list[list[Any]]], dict[str, int]]:
    """Header, rows by table, and the end line of a backup file."""
    with gzip.open(path, "rt") as source:
        lines = [json.loads(line) for line in source]
    rows: dict[str, list[list[Any]]] = {name: [] for name in lines[0]["tables"]}
    for name, values in lines[1:-1]:
        rows[name].append(values)
    return lines[0], rows, lines[-1]["end"]


async def cli(url: str, *args: str, expect: int = 0) -> str:
    code, out, err = await run_main(cli_env(url), *args)
    assert code == expect, out + err
    return out


async def backup_of(url: str, path: Path) -> dict[str, list[list[Any]]]:
    await cli(url, "backup", str(path))
    return read_backup(path)[1]


async def write_a_lot(base: str, token: str, writer: int, stop: asyncio.Event) -> int:
    """One writer until ``stop`` (and at least ``ROUNDS`` rounds): users, keys and changes
    through the real API, so audit and outbox rows too; returns how many keys it made."""
    auth = {"Authorization": f"Bearer {token}"}
    made = 0
    async with aiohttp.ClientSession(base, headers=auth) as http:
        n = 0
        while n < ROUNDS or not stop.is_set():
            tg_id = 1000 * (writer + 1) + n
            user = {"id": tg_id, "first_name": f"W{writer}", "last_name": None, "username": None}
            async with http.post("/api/user/", json={"user": user}) as resp:
                assert resp.status == 200
            body = {"command": "create_new_token", "tg_id": tg_id, "name": f"k{n}", "days": 3}
            async with http.post("/api/vpn_token/alpha/", json=body) as resp:
                assert resp.status == 201, await resp.text()
                key = (await resp.json())["vpn_keys"][0]["id"]
            made += 1
            change = {"command": "token_name", "name": f"renamed {n}"}
            async with http.patch(f"/api/vpn_token/{key}/alpha/", json=change) as resp:
                assert resp.status == 200
            if n % 3 == 2:
                async with http.post(
                    f"/api/vpn_token/{key}/refresh/alpha/", json={"command": "refresh_token"}
                ) as resp:
                    assert resp.status == 201
                made += 1
            n += 1
    return made


def assert_consistent(rows: dict[str, list[list[Any]]], columns: dict[str, list[str]]) -> None:
    """A point-in-time state: every confirmed key has its creation event (written in the
    same transaction), and every creation event its key."""

    def col(table: str, name: str) -> int:
        return columns[table].index(name)

    keys = {r[col("vpn_keys", "id")]: r[col("vpn_keys", "state")] for r in rows["vpn_keys"]}
    created = {
        r[col("audit_events", "key_id")]
        for r in rows["audit_events"]
        if r[col("audit_events", "action")] in ("key.created", "key.refreshed")
    }
    assert {k for k, state in keys.items() if state != "creating"} <= created <= set(keys)
    users = {r[col("users", "id")] for r in rows["users"]}
    assert {r[col("vpn_keys", "owner_id")] for r in rows["vpn_keys"]} <= users


def orphans_of(
    rows: dict[str, list[list[Any]]], head: dict[str, Any], server: RunningEmulator
) -> set[str]:
    """The server's keys that a snapshot holds no live (or unfinished) row for."""
    columns = head["tables"]["vpn_keys"]
    state, remote = columns.index("state"), columns.index("remote_id")
    held = {r[remote] for r in rows["vpn_keys"] if r[state] != "deleted"}
    return set(server.emulator.keys) - held


def drift(out: str, server: str = "alpha") -> tuple[int, int, int, int, int]:
    found = re.search(
        rf"{server}: would repair (\d+) unfinished, (\d+) orphan\(s\), (\d+) re-created, "
        r"(\d+) re-applied; (\d+) missing",
        out,
    )
    assert found, out
    return tuple(int(n) for n in found.groups())  # type: ignore[return-value]


@pytest.fixture
async def beta() -> AsyncIterator[RunningEmulator]:
    """A second emulated server, for a key moved between two servers."""
    running = await start_emulator()
    yield running
    await running.stop()


@pytest.mark.parametrize("kind", kinds())
async def test_backup_while_eight_writers_run_restores_every_row(
    kind: str,
    new_database: NewDatabase,
    outline_server: RunningEmulator,
    beta: RunningEmulator,
    ctx: Context,
    tmp_path: Path,
) -> None:
    source = await new_database(kind)
    await cli(source, "server", "add", "alpha", outline_server.api_url)
    await cli(source, "server", "add", "beta", beta.api_url)
    seeded = await in_database(source, lambda: seed_every_table(ctx, outline_server.emulator))
    token = (await cli(source, "token", "create", "writers")).splitlines()[-1]
    async with serving(cli_env(source)) as running:
        stop = asyncio.Event()
        writers = [
            asyncio.create_task(write_a_lot(running.base, token, w, stop)) for w in range(WRITERS)
        ]
        await asyncio.sleep(0.3)
        during = tmp_path / "during.jsonl.gz"
        await cli(source, "backup", str(during))
        stop.set()
        made = sum(await asyncio.gather(*writers))
    after = tmp_path / "after.jsonl.gz"
    await cli(source, "backup", str(after))  # the service has stopped: the source holds still
    in_source = await table_rows(source)
    assert not [table for table, rows in in_source.items() if not rows], "a table is empty"
    head, taken_during, _ = read_backup(during)
    assert_consistent(taken_during, head["tables"])
    end = read_backup(after)[2]
    assert end["vpn_keys"] == made + seeded
    assert end["notices"] > 0 and end["audit_events"] > end["vpn_keys"]
    targets = [kind, "postgres"] if kind == "sqlite" and ON_POSTGRES else [kind]
    restored_during = []
    for target_kind in targets:
        target = await new_database(target_kind)
        await cli(target, "restore", str(during))
        assert await backup_of(target, tmp_path / f"{target_kind}-1.gz") == taken_during
        restored_during.append(await table_rows(target))
        out = await cli(target, "reconcile", "--dry-run")
        # Keys made after the snapshot are orphans (a creation in flight at snapshot time may
        # be one more).
        assert drift(out)[1] >= len(orphans_of(taken_during, head, outline_server)) > 0

        target = await new_database(target_kind)
        await cli(target, "restore", str(after))
        assert_same_rows(in_source, await table_rows(target))
        out = await cli(target, "reconcile", "--dry-run")
        assert drift(out) == drift(out, "beta") == (0, 0, 0, 0, 0)
    for other in restored_during[1:]:  # SQLite and PostgreSQL hold the same snapshot
        assert_same_rows(restored_during[0], other)


async def in_database(url: str, work: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``work`` with the ORM open on ``url``. Tortoise caches each model's INSERT by
    connection name, not dialect: after SQLite, PostgreSQL would get its ``?`` marks (a
    service process opens one database; these tests open both kinds)."""
    EXECUTOR_CACHE.clear()
    await open_database(url)
    try:
        return await work()
    finally:
        await close_database()
        EXECUTOR_CACHE.clear()


@pytest.mark.parametrize("kind", kinds())
async def test_a_restored_database_goes_on_numbering_after_its_rows(
    kind: str, new_database: NewDatabase, tmp_path: Path
) -> None:
    source, backup = await new_database(kind), tmp_path / "b.gz"

    async def make_two() -> None:
        for name in ("one", "two"):
            await tokens.create_token(name, actor="cli")
        await write_backup(source, backup, utcnow())

    async def restore_and_add() -> list[int]:
        await restore_backup(backup)
        await tokens.create_token("three", actor="cli")
        return [t.id for t in await ApiToken.all().order_by("id")]

    await in_database(source, make_two)
    target = await new_database("postgres" if ON_POSTGRES else kind)
    assert await in_database(target, restore_and_add) == [1, 2, 3]


async def test_restore_refuses_a_database_that_is_not_empty(
    database_url: str, tmp_path: Path
) -> None:
    backup = tmp_path / "b.gz"

    async def two_states() -> None:
        await tokens.create_token("old", actor="cli")
        await write_backup(database_url, backup, utcnow())
        await tokens.create_token("newer", actor="cli")

    async def names() -> list[str]:
        return [t.name for t in await ApiToken.all().order_by("id")]

    await in_database(database_url, two_states)
    code, _, err = await run_main(cli_env(database_url), "restore", str(backup))
    assert code == 1 and "not empty" in err and "--force" in err
    assert await in_database(database_url, names) == ["old", "newer"]
    await cli(database_url, "restore", "--force", str(backup))
    assert await in_database(database_url, names) == ["old"]


async def test_restore_refuses_a_backup_made_by_a_newer_version_and_changes_nothing(
    database_url: str, tmp_path: Path
) -> None:
    backup, newer = tmp_path / "b.gz", tmp_path / "newer.gz"

    async def one_token() -> None:
        await tokens.create_token("kept", actor="cli")
        await write_backup(database_url, backup, utcnow())

    await in_database(database_url, one_token)
    with gzip.open(backup, "rt") as source:
        lines = source.readlines()
    head = json.loads(lines[0])
    head["migrations"].append("99_20990101000000_from_the_future.py")
    with gzip.open(newer, "wt") as out:
        out.writelines([json.dumps(head) + "\n", *lines[1:]])
    before = await table_rows(database_url)
    code, out, err = await run_main(cli_env(database_url), "restore", "--force", str(newer))
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert "made by a newer version" in err and "99_20990101000000_from_the_future.py" in err
    assert await table_rows(database_url) == before


async def test_an_incomplete_backup_changes_nothing(db: str, tmp_path: Path) -> None:
    await tokens.create_token("kept", actor="cli")
    whole, cut = tmp_path / "b.gz", tmp_path / "cut.gz"
    await write_backup(db, whole, utcnow())
    with gzip.open(whole, "rt") as source:
        lines = source.readlines()
    with gzip.open(cut, "wt") as out:
        out.writelines(lines[:-1])
    await tokens.create_token("later", actor="cli")
    with pytest.raises(Invalid, match="incomplete"):
        await restore_backup(cut, replace=True)
    with pytest.raises(Invalid, match="not a readable backup"):
        await restore_backup(tmp_path / "none.gz", replace=True)
    assert [t.name for t in await ApiToken.all().order_by("id")] == ["kept", "later"]


async def test_every_table_of_the_database_is_backed_up(db: str) -> None:
    if ON_POSTGRES:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    _, rows = await connections.get("default").execute_query(sql)
    in_database = {next(iter(dict(r).values())) for r in rows} - {"aerich"}
    assert in_database == {t.name for t in service_tables()}, (
        "a table is not a plain model table (many-to-many?): teach domain/operations/tables.py"
    )


async def test_the_worker_writes_scheduled_backups_and_keeps_the_last_ones(
    database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    for n in range(3):
        old = folder / f"vpnkeys-2020010{n + 1}T000000Z.jsonl.gz"
        old.write_bytes(b"old")
        os.utime(old, (1577836800 + n * 86400,) * 2)
    env = cli_env(database_url, BACKUP_DIR=str(folder), BACKUP_KEEP="2")
    async with serving(env):
        for _ in range(100):
            if len(names := sorted(p.name for p in folder.iterdir())) == 2:
                break
            await asyncio.sleep(0.2)
    assert len(names) == 2 and names[0] == "vpnkeys-20200103T000000Z.jsonl.gz"
    head, _, end = read_backup(folder / names[1])
    assert head["format"] == "vpnkeys-backup" and "vpn_keys" in end


async def test_backup_without_a_path_goes_to_backup_dir(database_url: str, tmp_path: Path) -> None:
    env = cli_env(database_url, BACKUP_DIR=str(tmp_path / "here"))
    code, out, _ = await run_main(env, "backup")
    assert code == 0 and f"backup written to {tmp_path}/here/vpnkeys-" in out


async def test_a_scheduled_backup_is_not_repeated_before_backup_every_hours(
    db: str, tmp_path: Path
) -> None:
    """The worker's check with the clock it is given (the newest file's time is when it
    was written: the real clock, so the test's moments start from now)."""
    folder, every, start = tmp_path / "scheduled", timedelta(hours=6), utcnow()

    async def due_at(later: timedelta) -> Path | None:
        return await backup_if_due(db, folder, every=every, keep=5, now=start + later)

    first = await due_at(timedelta(0))
    assert first is not None and first.name == backup_name(start)
    for later in (timedelta(0), timedelta(minutes=1), every - timedelta(minutes=1)):
        assert await due_at(later) is None, later
    second = await due_at(every + timedelta(minutes=1))
    assert second is not None and second.name == backup_name(start + every + timedelta(minutes=1))
    assert backups_in(folder) == [first, second]
    assert read_backup(second)[0]["format"] == "vpnkeys-backup"
