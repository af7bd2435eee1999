"""``python main.py`` as a real serving process: start it on a free port, wait, stop it."""

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
# Variables of the developer's shell that would change what the process does.
CLEARED = ("BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_EVENTS_URL", "REDIS_URL", "LOG_FORMAT")


def free_port() -> int:
    """A TCP port nobody listens on at the moment (loopback)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``main.py`` process: this one, cleared of bot settings."""
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    return {**env, "DATABASE_URL": database_url, "LOG_LEVEL": "INFO", **extra}


async def run_main(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run ``python main.py ARGS`` to the end; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


@dataclass
class Serving:
    """A running ``main.py`` process and what it printed so far."""

    proc: asyncio.subprocess.Process
    base: str
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    async def stop(self) -> int:
        """SIGTERM (a graceful stop, as systemd and docker send), then the exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(20):
                return await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            return await self.proc.wait()


async def _collect(stream: asyncio.StreamReader, into: list[str]) -> None:
    async for line in stream:
        into.append(line.decode().rstrip("\n"))


async def _wait_healthy(serving: Serving, seconds: float) -> None:
    try:
        await _poll_health(serving, seconds)
    except TimeoutError:
        raise AssertionError("not healthy in time:\n" + "\n".join(serving.stderr)) from None


async def _poll_health(serving: Serving, seconds: float) -> None:
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(seconds):
            while True:
                if serving.proc.returncode is not None:
                    raise AssertionError("exited early:\n" + "\n".join(serving.stderr))
                try:
                    async with session.get(serving.base + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)


@asynccontextmanager
async def serving(
    env: dict[str, str],
    *args: str,
    wait: float = 60,
    port: int | None = None,
    command: tuple[str, ...] = (sys.executable, "main.py"),
) -> AsyncIterator[Serving]:
    """``main.py ARGS`` (or ``command ARGS``) serving on ``port`` (default: a free one) until
    the block ends; ``/healthz`` has answered when the block starts."""
    port = port or free_port()
    env = {**env, "API_HOST": "127.0.0.1", "API_PORT": str(port)}
    proc = await asyncio.create_subprocess_exec(
        *command, *args,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    running = Serving(proc, f"http://127.0.0.1:{port}")
    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        asyncio.create_task(_collect(proc.stdout, running.stdout)),
        asyncio.create_task(_collect(proc.stderr, running.stderr)),
    ]
    try:
        await _wait_healthy(running, wait)
        yield running
    finally:
        await running.stop()
        await asyncio.gather(*readers, return_exceptions=True)
