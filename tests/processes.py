"""The service as real processes: ``main.py serve`` started on a free port, stopped by SIGTERM."""

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def service_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a service process on ``database_url`` and ``port`` (no bot)."""
    env = {**os.environ, "DATABASE_URL": database_url, "API_HOST": "127.0.0.1"}
    env.pop("BOT_TOKEN", None)
    return {**env, "API_PORT": str(port), "PYTHONUNBUFFERED": "1", **extra}


async def wait_until_serving(base: str, proc: asyncio.subprocess.Process, within: float = 30):
    """Poll ``base``/healthz until it answers; fail if the process exits first."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while True:
            assert proc.returncode is None, f"the service exited with {proc.returncode}"
            try:
                async with session.get(f"{base}/healthz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, f"{base} did not answer within {within}s"
            await asyncio.sleep(0.1)


async def stop(proc: asyncio.subprocess.Process, grace: float = 20) -> int:
    """SIGTERM, then SIGKILL after ``grace`` seconds; the exit code."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            proc.kill()
    return await proc.wait()


@asynccontextmanager
async def serving(
    database_url: str, *args: str, **extra: str
) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """``python main.py serve ARGS`` on a free port; yields its base URL and process."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "serve", *args,
        cwd=ROOT, env=service_env(database_url, port, **extra),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_until_serving(base, proc)
        yield base, proc
    finally:
        await stop(proc)
