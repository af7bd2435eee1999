"""Real outside servers for the deployment tests: redis-server and nginx from Debian's
packages on loopback, a self-signed certificate, and an empty database of the kind under test."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES, _pg_admin, _pg_url
from tests.services import require_binary
from tests.serving import free_port
from vpn.emulator.tls import self_signed_pem

ROOT = Path(__file__).resolve().parent.parent


async def wait_for_port(port: int, proc: asyncio.subprocess.Process, seconds: float = 15) -> None:
    """Until something accepts connections on 127.0.0.1:``port`` (or ``proc`` exits)."""
    async with asyncio.timeout(seconds):
        while True:
            if proc.returncode is not None:
                raise AssertionError(f"exited with {proc.returncode} before listening")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            return


async def stop(proc: asyncio.subprocess.Process) -> None:
    """Terminate a process this test started and reap it."""
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    """A real redis-server on a free loopback port, for this test only."""
    binary = require_binary("redis-server", "/usr/bin/redis-server")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        await stop(proc)


@pytest.fixture
async def empty_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database that exists and was never migrated (of the kind under test)."""
    if not ON_POSTGRES:
        yield f"sqlite://{tmp_path}/empty.sqlite3"
        return
    name = f"t_empty_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f"CREATE DATABASE {name}")
    yield _pg_url(name)
    await _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@dataclass(frozen=True)
class Certificate:
    """A self-signed certificate (the emulator's kind) as PEM files."""

    cert: Path
    key: Path


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    """The self-signed certificate nginx serves on loopback."""
    cert_pem, key_pem, _ = self_signed_pem("127.0.0.1")
    paths = Certificate(tmp_path / "fullchain.pem", tmp_path / "privkey.pem")
    paths.cert.write_bytes(cert_pem)
    paths.key.write_bytes(key_pem)
    return paths


@dataclass(frozen=True)
class Proxy:
    """nginx running deploy/nginx/vpnkeys.conf in front of the app's port."""

    https: str
    http: str
    access_log: Path


def render_site(upstream: int, https: int, http: int, cert: Certificate, snippet: Path) -> str:
    """deploy/nginx/vpnkeys.conf with only its host-specific lines moved to loopback."""
    site = (ROOT / "deploy" / "nginx" / "vpnkeys.conf").read_text()
    swaps = {
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
        "/etc/letsencrypt/live/vpn.example.com/fullchain.pem": str(cert.cert),
        "/etc/letsencrypt/live/vpn.example.com/privkey.pem": str(cert.key),
        "include /etc/nginx/snippets/vpnkeys-proxy.conf;": f"include {snippet};",
    }
    for old, new in swaps.items():
        assert site.count(old) == 1, f"deploy/nginx/vpnkeys.conf no longer has {old!r}"
        site = site.replace(old, new)
    return site


@asynccontextmanager
async def nginx_proxy(tmp: Path, upstream: int, cert: Certificate) -> AsyncIterator[Proxy]:
    """Run Debian's nginx with the site config in front of 127.0.0.1:``upstream``."""
    binary = require_binary("nginx", "/usr/sbin/nginx")
    https, http = free_port(), free_port()
    site = tmp / "site.conf"
    snippet = ROOT / "deploy" / "nginx" / "vpnkeys-proxy.conf"
    site.write_text(render_site(upstream, https, http, cert, snippet))
    log = tmp / "access.log"
    (tmp / "nginx.conf").write_text(
        f"""user root;
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 256; }}
http {{
    access_log {log};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
"""
    )
    proc = await asyncio.create_subprocess_exec(
        binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", "stderr",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await wait_for_port(https, proc)
        yield Proxy(f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}", log)
    finally:
        await stop(proc)
