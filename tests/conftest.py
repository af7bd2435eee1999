"""Shared fixtures: a migrated database per test (SQLite, or PostgreSQL when DATABASE_URL
says so), the Outline emulator over real HTTP, a domain context, and a log secret check."""

import asyncio
import logging
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from db.connect import close_database, open_database
from db.migrate import apply_migrations
from db.models import VPNServer
from domain import audit
from domain.context import Context
from domain.servers import registry
from vpn.pool import BackendPool

pytest_plugins = [
    "tests.vpn_fixtures",
    "tests.api_fixtures",
    "tests.bot_fixtures",
    "tests.worker_fixtures",
    "tests.serve_fixtures",
    "tests.link_fixtures",
    "tests.deploy_fixtures",
    "tests.billing_fixtures",
    "tests.perf_fixtures",
]

# The emulator answers exact counts unless a test switches it to its "prometheus" mode (and
# sets the context's scrape interval); settings built by tests and CLI runs follow suit.
os.environ["OUTLINE_SCRAPE_SECONDS"] = "0"
POSTGRES_URL = os.environ.get("DATABASE_URL", "")
ON_POSTGRES = POSTGRES_URL.startswith(("postgres://", "postgresql://"))
# One template per session, so concurrent runs on one server do not collide.
TEMPLATE_DB = f"vpnkeys_template_{os.getpid()}"
# Anything matching these must never reach a log record.
SECRET_MARKERS = ["ss://", "vks_"]
# Nor may a record show a request's query string or a header line, even a malformed one
# (aiohttp's own access log and parser tracebacks do).
LEAK_PATTERNS = [
    re.compile(r"(?i)\b(GET|POST|PATCH|PUT|DELETE|HEAD|OPTIONS) /\S*\?"),
    re.compile(r"(?i)\bauthorization\s*:\s*\S"),
    re.compile(r"(?i)\bbearer\s+\S"),
]


def _pg_url(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{database}"


async def _pg_admin(*statements: str) -> None:
    conn = await asyncpg.connect(_pg_url("postgres"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once per session, copied for every test."""
    drop = f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)"
    if ON_POSTGRES:
        asyncio.run(_pg_admin(drop, f"CREATE DATABASE {TEMPLATE_DB}"))
        url = _pg_url(TEMPLATE_DB)
    else:
        url = f"sqlite://{tmp_path_factory.mktemp('template')}/template.sqlite3"
    asyncio.run(apply_migrations(url))
    yield url
    if ON_POSTGRES:
        asyncio.run(_pg_admin(drop))


@asynccontextmanager
async def fresh_database(template_url: str, path: Path) -> AsyncIterator[str]:
    """A copy of the migrated template (a SQLite file at ``path``), dropped afterwards."""
    if ON_POSTGRES:
        name = f"t_{uuid.uuid4().hex[:12]}"
        await _pg_admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
        yield _pg_url(name)
        await _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    else:
        shutil.copy(template_url.removeprefix("sqlite://"), path)
        yield f"sqlite://{path}"


@pytest.fixture
async def database_url(template_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a fresh migrated database for this test (not yet opened)."""
    async with fresh_database(template_url, tmp_path / "test.sqlite3") as url:
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """An open ORM on a fresh migrated database."""
    await open_database(database_url)
    yield database_url
    await close_database()


@pytest.fixture
async def pool() -> AsyncIterator[BackendPool]:
    """The VPN client pool with short timeouts so fault tests stay quick."""
    backends = BackendPool(timeout=1.0)
    yield backends
    await backends.close()


@pytest.fixture
def ctx(pool: BackendPool) -> Context:
    """A domain context; the reconciler may roll back any unfinished key at once. The
    emulator answers exact counts unless a test switches it to its "prometheus" mode."""
    return Context(pool=pool, stale_after=timedelta(0), scrape_seconds=0, scrape_settle_seconds=0)


@pytest.fixture
async def server(db: str, ctx: Context, outline_server) -> VPNServer:
    """The emulator registered as server ``alpha``."""
    SECRET_MARKERS.append(urlsplit(outline_server.api_url).path)
    return await registry.add_server(
        ctx, name="alpha", api_url=outline_server.api_url, actor=audit.CLI
    )


@pytest.fixture(autouse=True)
def no_secrets_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test whose log records (messages or tracebacks) contain a secret, a query
    string or a header line."""
    caplog.set_level(logging.DEBUG)
    yield
    handler = logging.Formatter()
    for record in caplog.get_records("setup") + caplog.get_records("call"):
        text = record.getMessage()
        if record.exc_info:
            text += handler.formatException(record.exc_info)
        if record.stack_info:
            text += record.stack_info
        leaked = [m for m in SECRET_MARKERS if m in text]
        leaked += [p.pattern for p in LEAK_PATTERNS if p.search(text)]
        assert not leaked, f"secret in log record from {record.name}: {leaked}"
