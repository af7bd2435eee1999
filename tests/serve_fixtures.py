"""Real ``main.py serve`` processes for multi-process tests, and an HTTP client for them."""

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Served:
    """One running ``main.py serve``; its log goes to ``log``."""

    proc: subprocess.Popen[bytes]
    base: str
    log: Path

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_serving(database_url: str, log: Path, *args: str, **env: str) -> Served:
    """Start ``main.py serve [ARGS]`` on a free port (API and worker, no bot)."""
    port = free_port()
    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "API_HOST": "127.0.0.1",
        "API_PORT": str(port),
        "OUTLINE_TIMEOUT_SECONDS": "1",
        "RECONCILE_SECONDS": "3600",
        "LOG_LEVEL": "WARNING",
        **env,
    }
    environ.pop("BOT_TOKEN", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "main.py", "serve", *args],
            cwd=ROOT,
            env=environ,
            stdout=out,
            stderr=out,
        )
    return Served(proc, f"http://127.0.0.1:{port}", log)


async def until_serving(served: Served, within: float = 30.0) -> None:
    """Wait for ``/healthz``; fail with the process's log if it exits or never answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if served.proc.poll() is not None:
                break
            try:
                async with session.get(served.base + "/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    pytest.fail(f"serve did not start:\n{served.log.read_text()[-3000:]}")


@dataclass
class Cluster:
    """Several serving processes on one database, called in turn."""

    processes: list[Served]
    session: aiohttp.ClientSession
    token: str

    async def call(
        self, n: int, method: str, path: str, body: Any = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one request to process ``n`` (modulo their number); (status, JSON)."""
        served = self.processes[n % len(self.processes)]
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(
            method, served.base + path, json=body, headers=headers
        ) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def cluster_of_two(
    database_url: str, tmp_path: Path, api_token: str
) -> AsyncIterator[Cluster]:
    """Two ``main.py serve`` processes on the test's database."""
    processes = [start_serving(database_url, tmp_path / f"serve{n}.log") for n in range(2)]
    try:
        for served in processes:
            await until_serving(served)
        async with aiohttp.ClientSession() as session:
            yield Cluster(processes, session, api_token)
    finally:
        for served in processes:
            served.stop()
