"""``serve --workers N``: N processes on one port (``SO_REUSEPORT``), one lifecycle-worker
leader among them, all stopped by one SIGTERM; SQLite refuses (it serves one process)."""

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from domain.lifecycle.leader import LOCK_ID
from tests.conftest import ON_POSTGRES
from tests.serve_fixtures import Served, start_serving, until_serving
from tests.test_cli import run_cli

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="several processes need PostgreSQL")


def children(pid: int) -> list[int]:
    """The child processes of ``pid``."""
    with open(f"/proc/{pid}/task/{pid}/children") as listed:
        return [int(child) for child in listed.read().split()]


def running(pid: int) -> bool:
    """Whether process ``pid`` exists."""
    return os.path.exists(f"/proc/{pid}")


def listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on 127.0.0.1:``port``."""
    found = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 0A: LISTEN
                found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    """The inodes of the sockets ``pid`` holds open."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


async def leaders(database_url: str) -> int:
    """How many sessions hold the lifecycle worker's advisory lock on this database."""
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = $1 AND objid = $2 AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            LOCK_ID >> 32,
            LOCK_ID & 0xFFFFFFFF,
        )
    finally:
        await conn.close()


async def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/one.sqlite3"
    code, _, err = await run_cli(url, "serve", "--workers", "2")
    assert code == 2
    assert "--workers needs PostgreSQL" in err and "SQLite serves one process" in err


@needs_postgres
async def test_workers_share_one_port_with_one_leader_and_stop_on_one_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    served: Served = start_serving(database_url, tmp_path / "serve.log", "--workers", "2")
    try:
        await until_serving(served)
        pids = children(served.proc.pid)
        assert len(pids) == 2
        port = int(served.base.rsplit(":", 1)[1])
        await until(lambda: all_listen(pids, port))  # a listening socket each, on one port
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            for _ in range(20):
                async with s.get(f"{served.base}/healthz") as resp:
                    assert resp.status == 200
        await until(lambda: one_leader(database_url))
        served.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(served.proc.wait, 40) == 0
        assert not [pid for pid in pids if running(pid)]
    finally:
        served.stop()


async def until(check: Callable[[], Awaitable[bool]], within: float = 30.0) -> None:
    """Wait until ``check()`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.1)


async def all_listen(pids: list[int], port: int) -> bool:
    listening = listening_inodes(port)
    return len(listening) == len(pids) and all(socket_inodes(pid) & listening for pid in pids)


async def one_leader(database_url: str) -> bool:
    return await leaders(database_url) == 1
