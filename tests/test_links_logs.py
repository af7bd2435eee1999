"""A real ``main.py serve`` process with links on: fetching them (working, deleted, unknown)
writes no secret to any log line, the access log included."""

import asyncio
import os
import secrets
import socket
import sys
from pathlib import Path

import aiohttp

from db.models import KeyState, VPNKey
from domain import audit
from domain.context import Context
from domain.keys import issuing
from domain.links.signing import SECRET_LENGTH, LinkSigner
from tests.link_fixtures import LINK_SECRET, PUBLIC_URL
from vpn.emulator import RunningEmulator

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def served(base: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert proc.returncode is None, "the service exited"
            await asyncio.sleep(0.1)
    raise AssertionError("the service did not start")


async def test_link_fetches_leave_no_secret_in_the_service_logs(
    database_url: str, server, ctx: Context, outline_server: RunningEmulator
) -> None:
    signer = LinkSigner(PUBLIC_URL, LINK_SECRET.encode())
    live = await issuing.create_key(ctx, server="alpha", name="live", actor=audit.CLI)
    gone = await issuing.create_key(ctx, server="alpha", name="gone", actor=audit.CLI)
    await VPNKey.filter(id=gone.id).update(state=KeyState.DELETED)
    unknown = secrets.token_urlsafe(SECRET_LENGTH)[:SECRET_LENGTH]
    wanted = {signer.secret(live): 200, signer.secret(gone): 404, unknown: 404}
    port = free_port()
    env = {
        **os.environ, "DATABASE_URL": database_url, "API_HOST": "127.0.0.1",
        "API_PORT": str(port), "PUBLIC_URL": PUBLIC_URL, "LINK_SECRET": LINK_SECRET,
        "LOG_LEVEL": "DEBUG", "RECONCILE_SECONDS": "3600",
    }  # fmt: skip
    env.pop("BOT_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "serve", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        await served(base, proc)
        async with aiohttp.ClientSession() as session:
            for secret, status in wanted.items():
                for path in (f"/conf/{secret}", f"/conf/{secret}?x=1", f"/conf/{secret}/"):
                    async with session.get(base + path) as response:
                        assert response.status == (404 if path.endswith("/") else status)
    finally:
        proc.terminate()
        out, _ = await proc.communicate()
    log = out.decode()
    assert "aiohttp.access" in log or "GET" in log, log[-2000:]
    for secret in wanted:
        assert secret and secret not in log
    assert "ssconf://" not in log and live.access_url not in log
