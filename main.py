"""Composition root and command line: ``python main.py [serve|migrate|server|token|reconcile]``."""

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from tortoise.exceptions import OperationalError
from tqdm import tqdm

from api.app_keys import CONTEXT
from api.demo import demo_ctx
from api.setup import build_app
from db.connect import DatabaseInUse, claim_sqlite_for_serving, close_database, open_database
from db.migrate import apply_migrations
from domain import audit
from domain.accounts import tokens
from domain.context import Context
from domain.errors import DomainError
from domain.keys.reconcile import reconcile
from domain.lifecycle.worker import run_worker
from domain.notices.messenger import Messenger
from domain.servers import registry
from domain.servers.drain import drain_server
from domain.settings import Settings
from vpn.pool import BackendPool

logger = logging.getLogger("vpnkeys")


@asynccontextmanager
async def domain_context(settings: Settings) -> AsyncIterator[Context]:
    """Open the database and the VPN client pool for a one-shot command."""
    await open_database(settings.database_url)
    pool = BackendPool(timeout=settings.outline_timeout_seconds)
    try:
        yield Context.from_settings(settings, pool)
    finally:
        await pool.close()
        await close_database()


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    applied = await apply_migrations(settings.database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


async def cmd_server(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        if args.action in ("add", "update"):
            api_url, cert = args.api_url, args.cert_sha256
            if api_url.lstrip().startswith("{"):
                api_url, cert = registry.parse_installer_line(api_url)
                cert = args.cert_sha256 or cert
        if args.action == "add":
            server = await registry.add_server(
                ctx,
                name=args.name,
                api_url=api_url,
                cert_sha256=cert,
                title=args.title,
                actor=audit.CLI,
            )
            print(f"server '{server.name}' added (answers, {server.kind})")
        elif args.action == "update":
            update = await registry.update_server(
                ctx, name=args.name, api_url=api_url, cert_sha256=cert, actor=audit.CLI
            )
            print(f"server '{args.name}' updated (answers at the new address)")
            if update.reinstalled:
                print(
                    f"its serverId changed: this is a new Outline installation without the "
                    f"keys it had. Run `python main.py reconcile --server {args.name}` to "
                    "re-create its live keys there."
                )
        elif args.action == "list":
            for server in await registry.list_servers():
                state = "active" if server.is_active else "disabled"
                pinned = "pinned" if server.cert_sha256 else "not pinned"
                print(f"{server.name}\t{server.kind}\t{state}\t{pinned}\t{server.title or ''}")
        elif args.action == "title":
            server = await registry.set_server_title(args.name, args.title, actor=audit.CLI)
            print(f"server '{server.name}' is shown as '{server.title or server.name}'")
        elif args.action == "drain":
            await drain_cli(ctx, args)
        elif args.action in ("enable", "disable"):
            await registry.set_server_active(args.name, args.action == "enable", actor=audit.CLI)
            print(f"server '{args.name}' {args.action}d")
        else:
            await registry.remove_server(args.name, actor=audit.CLI)
            print(f"server '{args.name}' removed")


async def drain_cli(ctx: Context, args: argparse.Namespace) -> None:
    """``server drain``: move every live key off a server, with a progress bar."""
    with tqdm(desc=f"draining {args.name}", unit="key", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = await drain_server(
            ctx,
            name=args.name,
            actor=audit.CLI,
            targets=args.to or None,
            source_down=True if args.source_down else None,
            progress=progress,
        )
    where = ", ".join(f"{name} {n}" for name, n in sorted(report.moved.items())) or "nowhere"
    print(
        f"{report.server}: {report.moved.total()} moved ({where}), {len(report.failed)} failed, "
        f"{report.left} left; {report.leftovers_deleted} old copies deleted; "
        f"'{report.server}' stays disabled"
    )
    for key_id, error in sorted(report.failed.items()):
        print(f"  key {key_id}: {error}")
    if not report.complete:
        raise DomainError(f"{report.left} live keys are still on '{report.server}'; run it again")


async def cmd_token(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings):
        if args.action == "create":
            token, plaintext = await tokens.create_token(args.name, actor=audit.CLI)
            print(f"API token '{token.name}' created; it is shown only once:")
            print(plaintext)
        elif args.action == "list":
            for token in await tokens.list_tokens():
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                print(f"{token.name}\t{state}\tlast used {used}")
        else:
            await tokens.revoke_token(args.name, actor=audit.CLI)
            print(f"token '{args.name}' revoked")


async def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        reports = await reconcile(ctx, server=args.server, dry_run=args.dry_run, actor=audit.CLI)
    verb = "would repair" if args.dry_run else "repaired"
    for r in reports:
        if r.error:
            print(f"{r.server}: unreachable ({r.error})")
            continue
        print(
            f"{r.server}: {verb} {len(r.rolled_back)} unfinished, "
            f"{len(r.orphans_deleted)} orphan(s), {len(r.recreated)} re-created, "
            f"{len(r.reapplied)} re-applied; {len(r.missing)} missing"
        )
        if r.unclaimed:
            print(
                f"{r.server}: left {len(r.unclaimed)} old-scheme key(s) alone that this "
                "database never held (another installation may own them)"
            )


def build_service(settings: Settings, *, pool: BackendPool | None = None) -> web.Application:
    """The whole process: API app with the worker and (given a token) the bot attached."""
    app = build_app(settings, pool=pool)
    messenger: Messenger | None = None  # set below when the bot is attached

    async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
        async with run_worker(app[CONTEXT], settings, messenger):
            yield

    app.cleanup_ctx.append(worker_ctx)
    if settings.bot_token is None:
        logger.info("BOT_TOKEN is not set: running the API and the worker without the bot")
    else:
        # aiogram takes seconds to import; the one-shot commands never need it.
        from bot.setup import attach_bot

        messenger = attach_bot(app, settings, lambda: app[CONTEXT])
    return app


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    app = build_service(settings)
    if args.demo:
        app.cleanup_ctx.insert(1, demo_ctx(settings))
    web.run_app(app, host=settings.api_host, port=settings.api_port, print=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="VPN key service")
    parser.add_argument(
        "--demo", action="store_true", help="serve with a built-in Outline emulator"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the bot, the API and the worker (default)")
    sub.add_parser("migrate", help="apply database migrations to DATABASE_URL")

    srv = sub.add_parser("server", help="manage VPN servers").add_subparsers(
        dest="action", required=True
    )
    add = srv.add_parser("add", help="register a server (checked before saving)")
    add.add_argument("name")
    add.add_argument("api_url", help="the apiUrl, or the installer's whole JSON line")
    add.add_argument("--cert-sha256", help="SHA-256 fingerprint of the server certificate")
    add.add_argument("--title", help='the name users see, e.g. "🇩🇪 Frankfurt" (default: NAME)')
    title = srv.add_parser("title", help="set the name users see for a server")
    title.add_argument("name")
    title.add_argument("title", help='e.g. "🇩🇪 Frankfurt"; "" shows NAME again')
    update = srv.add_parser("update", help="re-point a server (new URL or certificate)")
    update.add_argument("name")
    update.add_argument("api_url", help="the new apiUrl, or the installer's whole JSON line")
    update.add_argument("--cert-sha256", help="SHA-256 fingerprint of the server certificate")
    srv.add_parser("list", help="list servers (secrets are never printed)")
    for action in ("enable", "disable", "remove"):
        srv.add_parser(action, help=f"{action} a server").add_argument("name")
    drain = srv.add_parser(
        "drain", help="disable a server and move its live keys to the other active servers"
    )
    drain.add_argument("name")
    drain.add_argument("--to", nargs="+", metavar="OTHER", help="only these target servers")
    drain.add_argument(
        "--source-down",
        action="store_true",
        help="the server is dead: do not call it (usage it has not reported is lost)",
    )

    tok = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    tok.add_parser("create", help="create a token; printed alone on the last line").add_argument(
        "name"
    )
    tok.add_parser("list", help="list tokens")
    tok.add_parser("revoke", help="revoke a token").add_argument("name")

    rec = sub.add_parser("reconcile", help="repair drift between the database and servers now")
    rec.add_argument("--server", help="only this server")
    rec.add_argument("--dry-run", action="store_true", help="report without changing anything")
    return parser


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[None]]] = {
    "migrate": cmd_migrate,
    "server": cmd_server,
    "token": cmd_token,
    "reconcile": cmd_reconcile,
}


def main(argv: list[str] | None = None) -> int:
    """Run one command; domain errors print their message and exit 1."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.command in (None, "serve"):
        try:
            claim = claim_sqlite_for_serving(settings.database_url)
        except DatabaseInUse as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        cmd_serve(settings, args)
        del claim
        return 0
    try:
        asyncio.run(COMMANDS[args.command](settings, args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        print(f"error: database: {exc} (run `python main.py migrate` first?)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
