"""Scratch databases (SQLite file or PostgreSQL database) and the rows every bench needs."""

import argparse
import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from bench.common import PY, ROOT
from db.connect import close_database, open_database
from db.models import KeyState, User, VPNKey, VPNServer
from domain import audit
from domain.accounts import tokens

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:54329/postgres"
SAMPLE_URL = "ss://Y2hhY2hhMjAtaWV0Zi1wb2x5MTMwNTpzZWNyZXQ@127.0.0.1:4000/?outline=1"


async def pg_available(admin_url: str = PG_ADMIN_URL) -> bool:
    """Whether the PostgreSQL server of ``admin_url`` accepts connections."""
    try:
        conn = await asyncpg.connect(admin_url, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def migrate(url: str) -> None:
    """Apply the migrations in a child process (aerich cannot init twice in one process)."""
    code = (
        "import asyncio, sys; from db.migrate import apply_migrations as a; "
        "asyncio.run(a(sys.argv[1]))"
    )
    proc = await asyncio.create_subprocess_exec(PY, "-c", code, url, cwd=ROOT)
    if await proc.wait() != 0:
        raise RuntimeError("migrations failed")


async def _pg_admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def scratch_database(kind: str, admin_url: str = PG_ADMIN_URL) -> AsyncIterator[str]:
    """A freshly migrated database of ``kind`` (``sqlite`` / ``postgres``), dropped after."""
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="vpnkeys-bench-")
        url = f"sqlite://{folder}/bench.sqlite3"
        try:
            await migrate(url)
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    await _pg_admin(admin_url, f"CREATE DATABASE {name}")
    try:
        url = admin_url.rsplit("/", 1)[0] + f"/{name}"
        await migrate(url)
        yield url
    finally:
        await _pg_admin(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def add_synchronous(parser: argparse.ArgumentParser) -> None:
    """The ``--sqlite-synchronous`` option of the benches that commit."""
    parser.add_argument(
        "--sqlite-synchronous",
        choices=["FULL", "NORMAL"],
        default="FULL",
        help="SQLite's synchronous pragma (DATABASE_URL=sqlite://FILE?synchronous=NORMAL)",
    )


def sqlite_synchronous(url: str, mode: str) -> str:
    """``url`` with SQLite's ``synchronous`` pragma set to ``mode`` (``FULL``, the default,
    leaves it as it is; PostgreSQL URLs too)."""
    if mode == "FULL" or not url.startswith("sqlite://"):
        return url
    return f"{url}?synchronous={mode}"


@asynccontextmanager
async def orm(url: str) -> AsyncIterator[None]:
    """The ORM opened on ``url`` for the duration."""
    await open_database(url)
    try:
        yield
    finally:
        await close_database()


async def add_servers(servers: dict[str, str]) -> list[VPNServer]:
    """Server rows ``name -> api_url`` (inserted directly: the benches start the servers)."""
    return [await VPNServer.create(name=name, api_url=url) for name, url in servers.items()]


async def api_token() -> str:
    """A new API token's plaintext."""
    _, plaintext = await tokens.create_token(f"bench-{uuid.uuid4().hex[:8]}", actor=audit.CLI)
    return plaintext


async def user_with_keys(tg_id: int, server: VPNServer, count: int) -> list[VPNKey]:
    """A user holding ``count`` live keys on ``server`` (rows only)."""
    await User.create(id=tg_id, first_name="Bench", username=f"u{tg_id}")
    return [
        await VPNKey.create(
            server=server,
            owner_id=tg_id,
            remote_id=f"73{tg_id:06d}{n:07d}",
            name=f"key {n}",
            access_url=SAMPLE_URL,
            state=KeyState.LIVE,
            traffic_limit=10 * 1024**3,
        )
        for n in range(count)
    ]
