"""``python main.py --demo``: an in-process Outline emulator registered as server ``demo``."""

import secrets
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from aiohttp import web

from api.app_keys import CONTEXT
from db.connect import describe_url
from domain import audit
from domain.accounts import tokens
from domain.errors import Conflict, NotFound
from domain.servers import registry
from domain.settings import Settings
from vpn.emulator import RunningEmulator, start_emulator

DEMO_SERVER = "demo"
HOST = "127.0.0.1"
# Usage figures as a real Outline server gives them (extrapolated, from 60 s scrapes).
USAGE = "prometheus"


@contextmanager
def demo_database(url: str | None) -> Iterator[str]:
    """The demo's database: ``url`` when given, else a temporary SQLite file removed at exit.

    Never the configured ``DATABASE_URL``: the demo server, its keys and tokens must not end
    up in the real database.
    """
    if url is not None:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="vpnkeys-demo-") as folder:
        yield f"sqlite://{folder}/demo.sqlite3"


async def _stored_address() -> tuple[int, str, str | None] | None:
    """Port, secret prefix and serverId of the ``demo`` server an earlier run saved, if any."""
    try:
        server = await registry.get_server(DEMO_SERVER)
    except NotFound:
        return None
    parts = urlsplit(server.api_url)
    if parts.scheme != "http" or parts.hostname != HOST or parts.port is None:
        raise Conflict(f"server '{DEMO_SERVER}' exists and is not the built-in emulator")
    return parts.port, parts.path, server.server_uid


async def start_demo_server(app: web.Application) -> RunningEmulator:
    """Serve the emulator; register it, or reuse the address an earlier run registered."""
    stored = await _stored_address()
    if stored is not None:
        port, prefix, server_uid = stored
        running = await start_emulator(HOST, port, prefix=prefix, usage=USAGE)
        if server_uid is not None:  # the same server again, as far as the reconciler can tell
            running.emulator.server_id = server_uid
        return running
    running = await start_emulator(HOST, 0, usage=USAGE)
    try:
        await registry.add_server(
            app[CONTEXT], name=DEMO_SERVER, api_url=running.api_url, actor=audit.CLI
        )
    except BaseException:
        await running.stop()
        raise
    return running


def _announce(settings: Settings, plaintext: str) -> None:
    """Print the token and sample requests (the one place a token plaintext is shown)."""
    host = HOST if settings.api_host in ("0.0.0.0", "::", "") else settings.api_host
    base = f"http://{host}:{settings.api_port}"
    auth = f"-H 'Authorization: Bearer {plaintext}'"
    user = '{"user": {"id": 1, "first_name": "Demo", "last_name": null, "username": "demo"}}'
    lines = [
        f"Demo mode: the built-in Outline emulator serves as server '{DEMO_SERVER}' "
        "(in memory: its keys vanish when the process stops).",
        f"Database: {describe_url(settings.database_url)}",
        f"API token (shown once): {plaintext}",
        "Try:",
        f"  curl -s {auth} -H 'Content-Type: application/json' -d '{user}' {base}/api/user/",
        f"  curl -s {auth} -H 'Content-Type: application/json' "
        f"""-d '{{"command": "create_demo_token"}}' {base}/api/vpn_token/1/{DEMO_SERVER}/""",
        f"API docs: {base}/api/docs/",
    ]
    print("\n".join(lines), flush=True)


def demo_ctx(settings: Settings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` (after the database one) running the demo server and minting a token."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        running = await start_demo_server(app)
        try:
            name = f"demo-{secrets.token_hex(4)}"
            _, plaintext = await tokens.create_token(name, actor=audit.CLI)
            _announce(settings, plaintext)
            yield
        finally:
            await running.stop()

    return ctx
