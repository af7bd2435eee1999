"""The baseline servers: bare aiohttp handlers on the service's event loop.

``python -m bench.bare PORT BODY_FILE`` answers every GET with BODY_FILE's bytes (what
aiohttp itself costs). ``python -m bench.bare PORT --query DATABASE_URL TG_ID SERVER`` is the
raw-query anchor: every GET runs the service's one SQL query of
``GET api/user/<id>/vpn_keys/<srv>/`` straight on the driver (sqlite3 in the loop thread, or an
asyncpg pool) and answers its rows as JSON (what Python and this database allow).
``--view DATABASE_URL TG_ID SERVER`` answers with the service's own read and reply
(``issuing.user_key_rows``, ``keys_reply``) in a bare handler: the service without its HTTP
layers (middlewares, auth, path validation, access log).
``--reuse-port`` shares PORT with other copies (``SO_REUSEPORT``), as ``serve --workers`` does.
"""

import argparse
import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from api.responses import keys_reply
from bench.common import run_on_service_loop
from db.connect import close_database, open_database
from db.reads import sqlite_sql
from domain.keys import issuing


def fixed(body: bytes) -> web.Application:
    """An app whose only handler returns ``body`` as JSON."""

    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def anchor(url: str, tg_id: int, server: str) -> web.Application:
    """An app whose only handler runs the hot read's one query and answers its rows."""
    state: dict[str, Any] = {}

    async def rows() -> list[Any]:
        if "sqlite" in state:
            cursor = state["sqlite"].execute(sqlite_sql(issuing.USER_KEYS_SQL), (tg_id, server))
            return [dict(row) for row in cursor.fetchall()]
        found = await state["pool"].fetch(issuing.USER_KEYS_SQL, tg_id, server)
        return [dict(row) for row in found]

    async def handle(request: web.Request) -> web.Response:
        body = orjson.dumps({"status": 200, "vpn_keys": await rows()}, option=orjson.OPT_UTC_Z)
        return web.Response(body=body, content_type="application/json")

    async def connect(app: web.Application) -> AsyncIterator[None]:
        if url.startswith("sqlite://"):
            state["sqlite"] = sqlite3.connect(url.removeprefix("sqlite://"))
            state["sqlite"].row_factory = sqlite3.Row
        else:
            state["pool"] = await asyncpg.create_pool(url.replace("postgres://", "postgresql://"))
        yield
        if "pool" in state:
            await state["pool"].close()

    app = web.Application()
    app.cleanup_ctx.append(connect)
    app.router.add_get("/{tail:.*}", handle)
    return app


def view(url: str, tg_id: int, server: str) -> web.Application:
    """An app whose only handler answers as ``get_user_keys`` does, with no HTTP layers."""

    async def handle(request: web.Request) -> web.Response:
        found = await issuing.user_key_rows(tg_id, server)
        return keys_reply(found, f"{len(found)} key(s) of user {tg_id} on server '{server}'")

    async def connect(app: web.Application) -> AsyncIterator[None]:
        await open_database(url)
        yield
        await close_database()

    app = web.Application()
    app.cleanup_ctx.append(connect)
    app.router.add_get("/{tail:.*}", handle)
    return app


async def serve(app: web.Application, port: int, reuse_port: bool) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=reuse_port or None).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare")
    parser.add_argument("port", type=int)
    parser.add_argument("body_file", nargs="?")
    for mode in ("--query", "--view"):
        parser.add_argument(mode, nargs=3, metavar=("DATABASE_URL", "TG_ID", "SERVER"))
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    if args.query:
        url, tg_id, server = args.query
        app = anchor(url, int(tg_id), server)
    elif args.view:
        url, tg_id, server = args.view
        app = view(url, int(tg_id), server)
    else:
        with open(args.body_file, "rb") as body:
            app = fixed(body.read())
    run_on_service_loop(serve(app, args.port, args.reuse_port))


if __name__ == "__main__":
    main()
