"""Composition root and command line: ``python main.py [serve|migrate|reconcile|backup|audit|
restore|server|token|plan|promo|payment]`` (the one-shot commands live in ``cli/``)."""

import argparse
import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError
from tortoise.exceptions import OperationalError

from api import serving, workers
from api.app_keys import CONTEXT, STARS
from api.demo import demo_ctx, demo_database
from api.setup import build_app
from cli import billing, operations, servers, tokens
from cli.common import Command
from db.connect import (
    DatabaseInUse,
    DatabaseNotReady,
    claim_sqlite_for_serving,
    connection_errors,
)
from db.migrate import ensure_migrated
from domain.errors import DomainError
from domain.lifecycle.worker import run_worker
from domain.notices.messenger import Messenger
from domain.operations.logs import configure_logging
from domain.settings import Settings
from vpn.pool import BackendPool

logger = logging.getLogger("vpnkeys")


def build_service(
    settings: Settings, *, pool: BackendPool | None = None, polls: bool = True
) -> web.Application:
    """The whole process: API app with the worker and (given a token) the bot attached
    (long-polling unless ``polls`` is off: one process of several polls)."""
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
        from bot.stars import TelegramStars

        messenger = attach_bot(app, settings, lambda: app[CONTEXT], polls=polls)
        app[STARS] = TelegramStars(messenger.bot)  # refunds through the API
    return app


def prepare_database(settings: Settings, *, migrate: bool) -> None:
    """Check the database answers and is migrated (or migrate it) before serving."""
    applied = asyncio.run(ensure_migrated(settings.database_url, apply=migrate))
    if applied:
        logger.info("applied %d migration(s): %s", len(applied), ", ".join(applied))


def log_listening(settings: Settings) -> Callable[[str], None]:
    """Called once the socket is bound: logs where the API listens."""
    return lambda _: logger.info("listening on http://%s:%d", settings.api_host, settings.api_port)


def serve_workers(settings: Settings, args: argparse.Namespace, *, migrate: bool) -> int:
    """``serve --workers N``: migrate once here, then supervise N serving processes."""
    try:
        workers.check(settings, args.workers)
        if args.demo:
            raise workers.WorkersRefused("--demo serves one process: drop --workers")
    except workers.WorkersRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare_database(settings, migrate=migrate)
    return workers.supervise(Path(__file__).resolve(), args.workers, [])


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    migrate = args.demo or getattr(args, "migrate", False) or settings.migrate_on_start
    if args.worker is None and args.workers > 1:
        return serve_workers(settings, args, migrate=migrate)
    with ExitStack() as stack:
        if args.demo:
            url = stack.enter_context(demo_database(args.demo_database))
            settings = settings.model_copy(update={"database_url": url})
        # Kept referenced until the process stops: SQLite serves one process.
        with connection_errors(settings.database_url):
            claim = claim_sqlite_for_serving(settings.database_url)
        # A child of ``--workers`` only checks: its parent migrated.
        prepare_database(settings, migrate=migrate and args.worker is None)
        app = build_service(settings, polls=args.worker in (None, 0))
        if args.demo:
            app.cleanup_ctx.insert(1, demo_ctx(settings))
        reuse_port = args.worker is not None  # one of ``--workers``: the port is shared
        serving.run(app, settings, listening=log_listening(settings), reuse_port=reuse_port)
        del claim
    return 0


AREAS = (operations, servers, tokens, billing)
COMMANDS: dict[str, Command] = {name: run for area in AREAS for name, run in area.COMMANDS.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="VPN key service")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve with a built-in Outline emulator on a temporary database",
    )
    parser.add_argument(
        "--demo-database", metavar="URL", help="with --demo: use (and keep) this database instead"
    )
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser("serve", help="run the bot, the API and the worker (default)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.add_argument(
        "--workers", type=int, default=1, help="processes sharing API_PORT (PostgreSQL only)"
    )
    serve.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # a child of --workers
    parser.set_defaults(workers=1, worker=None)
    for area in AREAS:
        area.add_parsers(sub)
    return parser


def load_settings() -> Settings | None:
    """The settings, or ``None`` after printing what is wrong with them in one line each."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"]).upper() or "settings"
            print(f"error: configuration: {name}: {error['msg']}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; domain and database errors print one line and exit 1."""
    args = build_parser().parse_args(argv)
    settings = load_settings()
    if settings is None:
        return 2
    serving = args.command in (None, "serve")
    configure_logging(settings, one_shot=not serving)
    try:
        if serving:
            return cmd_serve(settings, args)
        return asyncio.run(COMMANDS[args.command](settings, args)) or 0
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except (DatabaseNotReady, DatabaseInUse) as exc:
        print(f"error: {exc}", file=sys.stderr)
    except OperationalError as exc:
        print(f"error: database: {exc} (run `python main.py migrate` first?)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
