"""Slow and greedy clients against a real ``main.py serve`` process: half-sent request heads,
more connections than the cap (or the open-file limit) allows, and a body that never ends.
A normal request still answers, and the log stays a few lines long."""

import asyncio
import json
import os
import resource
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout

ROOT = Path(__file__).resolve().parent.parent
HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def allow_open_files(count: int) -> None:
    """Raise this process's soft open-file limit to ``count`` (skip when the hard one is lower)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= count:
        return
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"the open-file limit ({hard}) is below {count}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


class Service:
    """``python main.py serve`` on a free port, its log collected."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            self.lines.append(line.decode(errors="replace").rstrip())

    async def get(self, path: str = "/healthz", *, within: float = 1.0) -> int:
        """The status of a normal request, which must answer within ``within`` seconds."""
        timeout = ClientTimeout(total=within)
        async with (
            ClientSession(timeout=timeout) as http,
            http.get(f"http://127.0.0.1:{self.port}{path}") as resp,
        ):
            await resp.read()
            return resp.status

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await self.proc.wait()
        await self._reader

    def about_connections(self) -> list[str]:
        return [line for line in self.lines if "connection" in line.lower()]


@pytest.fixture
async def start_service(database_url: str) -> AsyncIterator[Callable[..., object]]:
    started: list[Service] = []

    async def start(open_files: int | None = None, **env: str) -> Service:
        port = free_port()
        environment = {
            **os.environ,
            "DATABASE_URL": database_url,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(port),
            **env,
        }
        environment.pop("BOT_TOKEN", None)

        def limit_files() -> None:
            if open_files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "serve",
            cwd=ROOT, env=environment, stderr=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL, preexec_fn=limit_files,
        )  # fmt: skip
        service = Service(proc, port)
        started.append(service)
        for _ in range(300):
            try:
                if await service.get(within=2.0) == 200:
                    return service
            except OSError:
                pass
            assert proc.returncode is None, "\n".join(service.lines)
            await asyncio.sleep(0.1)
        raise AssertionError("the service did not start:\n" + "\n".join(service.lines))

    yield start
    for service in started:
        await service.stop()


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_slow(port: int, count: int) -> list[Connection]:
    """``count`` connections that each send half a request head and then nothing."""
    connections = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_HEAD)
        connections.append((reader, writer))
    return connections


async def closed_by_server(connection: Connection) -> bool:
    """Whether the server closed the connection without answering."""
    try:
        async with asyncio.timeout(0.5):
            return await connection[0].read() == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def close_all(connections: list[Connection]) -> None:
    for _, writer in connections:
        writer.close()


async def test_a_thousand_half_open_connections_leave_the_api_answering(
    start_service,
) -> None:
    allow_open_files(1500)
    service = await start_service(API_HEADER_TIMEOUT_SECONDS="2")
    slow = await open_slow(service.port, 1000)  # the cap (1000) is reached: the oldest go
    try:
        assert await service.get(within=1.0) == 200
        assert await service.get("/api/openapi.json", within=1.0) == 200
        await asyncio.sleep(3.5)  # past the header timeout: every slow one is closed
        closed = await asyncio.gather(*(closed_by_server(w) for w in slow))
        assert all(closed), f"{closed.count(False)} slow connections still open"
        assert await service.get(within=1.0) == 200
    finally:
        close_all(slow)
    await service.stop()
    about = service.about_connections()
    assert 1 <= len(about) <= 3, about
    assert not [line for line in service.lines if " ERROR " in line], service.lines
    assert len(service.lines) < 30, service.lines


async def test_more_connections_than_open_files_never_floods_the_log(start_service) -> None:
    allow_open_files(1500)
    # 400 descriptors: the 1,000 connections configured cannot fit, so fewer are served.
    service = await start_service(open_files=400, API_HEADER_TIMEOUT_SECONDS="30")
    slow = await open_slow(service.port, 1000)
    try:
        assert await service.get(within=1.0) == 200
    finally:
        close_all(slow)
    await service.stop()
    assert any(
        "does not fit the open-file limit (400): serving at most" in line for line in service.lines
    )
    assert not [line for line in service.lines if " ERROR " in line], service.lines[:20]
    assert len(service.lines) < 30, service.lines


async def test_a_body_that_never_arrives_is_a_408_that_closes_the_connection(
    start_service,
) -> None:
    service = await start_service(API_BODY_TIMEOUT_SECONDS="1")
    reader, writer = await asyncio.open_connection("127.0.0.1", service.port)
    writer.write(
        b"POST /api/user/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer x\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user":'
    )
    async with asyncio.timeout(5):
        head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
        length = int(head.split("content-length:")[1].split("\r\n")[0])
        body = json.loads(await reader.readexactly(length))
    writer.close()
    assert head.startswith("http/1.1 408 ") and "connection: close" in head
    assert body == {"status": 408, "details": "the request body did not arrive within 1 s"}
    assert await service.get(within=1.0) == 200
