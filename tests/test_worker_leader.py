"""Leader election: on PostgreSQL only one process runs the worker, and another takes over
when it goes away; on SQLite the single process always leads."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from domain.context import Context
from domain.lifecycle.leader import AdvisoryLockLeader, SoleLeader, leadership_for
from domain.lifecycle.worker import Worker, run_worker
from domain.settings import Settings
from tests.conftest import ON_POSTGRES
from tests.worker_fixtures import eventually

ROOT = Path(__file__).resolve().parent.parent
needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="advisory locks need PostgreSQL")

# A worker process that prints a line for every expiry sweep it runs.
WORKER = """
import asyncio, sys
from db.connect import open_database
from domain.lifecycle import worker
from domain.context import Context
from domain.settings import Settings
from vpn.pool import BackendPool

name, url = sys.argv[1], sys.argv[2]
sweep = worker.sweep_expired

async def counted(ctx):
    print(f"{name} sweep", flush=True)
    return await sweep(ctx)

worker.sweep_expired = counted

async def main():
    await open_database(url)
    settings = Settings(
        _env_file=None, database_url=url, expiry_check_seconds=0.1, leader_retry_seconds=0.2,
        traffic_sync_seconds=3600, reconcile_seconds=3600,
    )
    async with worker.run_worker(Context(pool=BackendPool(timeout=1.0)), settings):
        print(f"{name} started", flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


class Process:
    """A worker process whose output is collected in the background."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, name, url],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: list[str] = []
        self._reader = asyncio.get_running_loop().run_in_executor(None, self._read)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def sweeps(self) -> int:
        return self.lines.count(f"{self.name} sweep")

    async def stop(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        await asyncio.get_running_loop().run_in_executor(None, self.proc.wait, 10)
        await self._reader
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
async def processes(database_url: str) -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for proc in started:
        await proc.stop()


@needs_postgres
async def test_two_processes_on_one_database_one_sweeps_and_the_other_takes_over(
    database_url: str, processes: list[Process]
) -> None:
    first = Process("first", database_url)
    processes.append(first)

    async def first_sweeping() -> bool:
        return first.sweeps() >= 3

    await eventually(first_sweeping, within=30)
    second = Process("second", database_url)
    processes.append(second)

    async def second_started() -> bool:
        return "second started" in second.lines

    await eventually(second_started, within=30)
    before = first.sweeps()
    await asyncio.sleep(1.5)
    assert first.sweeps() >= before + 5  # the leader keeps sweeping…
    assert second.sweeps() == 0  # …and the other one idles
    await first.stop()  # a crash: the lock goes with the connection

    async def second_sweeping() -> bool:
        return second.sweeps() >= 3

    started = time.monotonic()
    await eventually(second_sweeping, within=30)
    assert time.monotonic() - started < 10
    assert "Traceback" not in "\n".join(first.lines + second.lines)


def leads(worker: Worker) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return worker.leading

    return check


@needs_postgres
async def test_a_worker_stopped_cleanly_hands_over_to_a_waiting_one(ctx: Context, db: str) -> None:
    settings = Settings(
        _env_file=None,
        database_url=db,
        leader_retry_seconds=0.05,
        expiry_check_seconds=3600,
        traffic_sync_seconds=3600,
        reconcile_seconds=3600,
    )
    async with AsyncExitStack() as first_block:
        one = await first_block.enter_async_context(run_worker(ctx, settings))
        await eventually(leads(one))
        async with run_worker(ctx, settings) as two:
            await asyncio.sleep(0.3)
            assert one.leading and not two.leading
            await first_block.aclose()
            assert not one.leading
            await eventually(leads(two), within=2)


@needs_postgres
async def test_the_lock_is_released_with_its_connection(db: str) -> None:
    one, two = leadership_for(db), leadership_for(db)
    assert isinstance(one, AdvisoryLockLeader)
    assert await one.try_acquire()
    assert await one.still_held()
    assert not await two.try_acquire()
    await one.release()
    assert not await one.still_held()
    assert await two.try_acquire()
    await two.release()


def test_sqlite_has_a_single_process_that_always_leads(tmp_path: Path) -> None:
    assert isinstance(leadership_for(f"sqlite://{tmp_path}/x.sqlite3"), SoleLeader)
