"""Composition root and command line: ``python main.py [serve|migrate|server|token|reconcile|
plan|promo|payment]``."""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from tortoise.exceptions import OperationalError
from tqdm import tqdm

from api import serving, workers
from api.app_keys import CONTEXT, STARS
from api.demo import demo_ctx, demo_database
from api.fields import parse_valid_until
from api.setup import build_app
from db.connect import (
    DatabaseInUse,
    DatabaseNotReady,
    claim_sqlite_for_serving,
    close_database,
    connection_errors,
    describe_url,
    open_database,
)
from db.migrate import apply_migrations, ensure_migrated
from domain import audit, bounds
from domain.accounts import tokens
from domain.billing import payments, plans, promos, refunds
from domain.billing.plans import PlanSpec
from domain.context import Context
from domain.errors import DomainError, Invalid
from domain.keys.reconcile import reconcile
from domain.lifecycle.worker import run_worker
from domain.notices.messenger import Messenger
from domain.operations.audit_log import AuditQuery, parse_moment, read_audit
from domain.operations.backup import write_backup
from domain.operations.logs import configure_logging
from domain.operations.restore import restore_backup
from domain.operations.schedule import backup_target
from domain.servers import registry
from domain.servers.drain import drain_server
from domain.settings import GIB, Settings
from vpn.pool import BackendPool

logger = logging.getLogger("vpnkeys")
DEFAULT_BACKUP_DIR = Path("backups")


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


async def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> int:
    """Exit status 0 when every server was checked (and repaired), 1 when one could not be
    (it did not answer, or it must not be touched until the operator acts)."""
    async with domain_context(settings) as ctx:
        reports = await reconcile(ctx, server=args.server, dry_run=args.dry_run, actor=audit.CLI)
    verb = "would repair" if args.dry_run else "repaired"
    for r in reports:
        if r.error:
            state = "unreachable" if r.unreachable else "not reconciled"
            print(f"{r.server}: {state} ({r.error})")
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
    return 1 if any(r.error for r in reports) else 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in counts.items())


async def cmd_backup(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        target = backup_target(args.path, settings.backup_dir or DEFAULT_BACKUP_DIR, ctx.now())
        counts = await write_backup(settings.database_url, target, ctx.now())
    print(f"backup written to {target}: {sum(counts.values())} rows ({_counts(counts)})")


async def cmd_restore(settings: Settings, args: argparse.Namespace) -> None:
    await apply_migrations(settings.database_url)
    async with domain_context(settings):
        counts = await restore_backup(args.path, replace=args.force)
    print(
        f"restored {sum(counts.values())} rows into the {describe_url(settings.database_url)} "
        f"({_counts(counts)}); compare it with the servers: python main.py reconcile --dry-run"
    )


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        moments = [
            None if t is None else parse_moment(t, ctx.now()) for t in (args.since, args.until)
        ]
        query = AuditQuery(
            key_id=args.key, user_id=args.user, actor=args.actor, action=args.action,
            since=moments[0], until=moments[1], limit=args.limit,
        )  # fmt: skip
        page = await read_audit(query)
    for e in page.events:
        details = json.dumps(e.details, ensure_ascii=False, separators=(",", ":"))
        key = "-" if e.key_id is None else e.key_id
        user = "-" if e.user_id is None else e.user_id
        at = f"{e.at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
        print(f"{at}\t{e.actor}\t{e.action}\tkey {key}\tuser {user}\t{details}")
    if page.next_before is not None:
        print(f"(more: raise --limit or narrow --since; {len(page.events)} shown)")


def _id(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``maximum`` (an id its column can hold)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or thousands of digits
            value = 0
        if not bounds.in_range(value, maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {maximum}")
        return value

    return parse


PLAN_FIELDS = ("name_en", "name_ru", "days", "price_stars", "traffic_limit", "monthly_reset")


def _traffic(value: str) -> int | None:
    """``--traffic-gb``: gigabytes, or ``unlimited``."""
    return None if value.lower() in ("unlimited", "none", "-") else int(float(value) * GIB)


def _plan_changes(args: argparse.Namespace) -> dict[str, Any]:
    fields = (*PLAN_FIELDS, "recurring")
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    if args.servers is not None:
        changes["servers"] = tuple(name for name in args.servers.split(",") if name)
    return changes


async def cmd_plan(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings):
        if args.action == "add":
            plan = await plans.create_plan(PlanSpec(**_plan_changes(args)), actor=audit.CLI)
            print(f"plan {plan.id} '{plan.name_en}' added")
        elif args.action == "list":
            for plan in await plans.list_plans():
                spec = await plans.spec_of(plan)
                limit = f"{spec.traffic_limit / GIB:g} GB" if spec.traffic_limit else "unlimited"
                print(
                    f"{plan.id}\t{spec.name_en} / {spec.name_ru}\t{spec.days} days\t{limit}"
                    f"{' monthly' if spec.monthly_reset else ''}\t{spec.price_stars} XTR\t"
                    f"{'recurring' if spec.recurring else 'one-off'}\t"
                    f"{','.join(spec.servers) or 'any server'}\t"
                    f"{'on sale' if plan.is_active else 'retired'}"
                )
        elif args.action == "update":
            plan = await plans.update_plan(args.id, _plan_changes(args), actor=audit.CLI)
            print(f"plan {plan.id} updated")
        else:
            await plans.retire_plan(args.id, actor=audit.CLI)
            print(f"plan {args.id} retired; keys bought with it keep working")


async def cmd_promo(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        if args.action == "list":
            for p in await promos.list_promos():
                gives = f"{p.percent_off}% off" if p.percent_off else f"+{p.free_days} days"
                until = f"until {p.valid_until:%Y-%m-%d %H:%M}" if p.valid_until else "no end"
                print(f"{p.code}\t{gives}\t{p.uses}/{p.max_uses or '∞'} used\t{until}")
            return
        if args.action == "retire":
            promo = await promos.retire_promo(args.code, now=ctx.now(), actor=audit.CLI)
            print(f"promo code {promo.code} retired ({promo.uses} used; those uses stay counted)")
            return
        try:
            until = parse_valid_until(args.valid_until) if args.valid_until else None
        except ValueError as exc:
            raise Invalid(f"--valid-until: {exc}") from None
        promo = await promos.create_promo(
            args.code,
            percent_off=args.percent,
            free_days=args.free_days,
            max_uses=args.max_uses,
            valid_until=until,
            actor=audit.CLI,
        )
        print(f"promo code {promo.code} added")


async def cmd_payment(settings: Settings, args: argparse.Namespace) -> None:
    async with domain_context(settings) as ctx:
        if args.action == "list":
            for p in await payments.payments_of(args.tg_id):
                print(
                    f"{p.id}\t{p.paid_at:%Y-%m-%d %H:%M}\t{p.amount} XTR\t"
                    f"{p.order.plan.name_en}\t{p.state.value}\t{p.telegram_payment_charge_id}"
                )
            return
        from bot.stars import open_stars  # aiogram takes seconds to import: only here

        async with open_stars(settings) as stars:
            payment = await refunds.refund_payment(
                ctx, payment_id=args.id, gateway=stars, actor=audit.CLI
            )
        print(f"payment {payment.id} {payment.state.value}")


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

    add_billing_commands(sub)
    rec = sub.add_parser("reconcile", help="repair drift between the database and servers now")
    rec.add_argument("--server", help="only this server")
    rec.add_argument("--dry-run", action="store_true", help="report without changing anything")

    back = sub.add_parser("backup", help="write a consistent backup while the service runs")
    back.add_argument(
        "path", nargs="?", type=Path, help="file or folder (default: BACKUP_DIR or ./backups)"
    )
    aud = sub.add_parser("audit", help="read the audit log, newest first")
    key_id, tg_id = _id(bounds.MAX_ROW_ID), _id(bounds.MAX_TG_ID)
    aud.add_argument("--key", type=key_id, metavar="ID", help="events of this key")
    aud.add_argument("--user", type=tg_id, metavar="TG_ID", help="events of this user")
    aud.add_argument("--actor", help="e.g. api:billing, tg:42, cli, worker")
    aud.add_argument("--action", help="e.g. key.created")
    aud.add_argument("--since", help="2026-12-01, 2026-12-01T10:00:00Z, or an age: 30m, 12h, 7d")
    aud.add_argument("--until", help="same forms as --since")
    aud.add_argument("--limit", type=int, default=50, help="events at most (default 50)")
    res = sub.add_parser("restore", help="load a backup into DATABASE_URL (SQLite or PostgreSQL)")
    res.add_argument("path", type=Path, help="a file written by `backup`")
    res.add_argument(
        "--force", action="store_true", help="replace what a non-empty database holds"
    )
    return parser


def add_billing_commands(sub: argparse._SubParsersAction) -> None:
    """``plan add|list|update|retire``, ``promo add|list|retire``, ``payment list|refund``."""
    plan = sub.add_parser("plan", help="manage the plans on sale").add_subparsers(
        dest="action", required=True
    )
    for action, required in (("add", True), ("update", False)):
        cmd = plan.add_parser(action, help=f"{action} a plan")
        if not required:
            cmd.add_argument("id", type=int)
        for flag, dest, kind in (
            ("--name-en", "name_en", str),
            ("--name-ru", "name_ru", str),
            ("--days", "days", int),
            ("--price", "price_stars", int),
        ):
            cmd.add_argument(flag, dest=dest, type=kind, required=required)
        cmd.add_argument("--traffic-gb", dest="traffic_limit", type=_traffic, help="or unlimited")
        cmd.add_argument("--monthly-reset", action=argparse.BooleanOptionalAction)
        cmd.add_argument("--recurring", action=argparse.BooleanOptionalAction, help="30 days")
        cmd.add_argument("--servers", help="comma-separated server names (default: any)")
    plan.add_parser("list", help="list plans")
    plan.add_parser("retire", help="take a plan off sale").add_argument("id", type=int)

    promo = sub.add_parser("promo", help="manage promo codes").add_subparsers(
        dest="action", required=True
    )
    add = promo.add_parser("add", help="create a promo code")
    add.add_argument("code")
    gives = add.add_mutually_exclusive_group(required=True)
    gives.add_argument("--percent", type=int, help="percent off (1-99)")
    gives.add_argument("--free-days", type=int, help="days added to the plan's")
    add.add_argument("--max-uses", type=int)
    add.add_argument("--valid-until", help="YYYY-MM-DD (through that UTC day)")
    promo.add_parser("list", help="list promo codes")
    promo.add_parser("retire", help="end a promo code now (uses stay counted)").add_argument(
        "code"
    )

    pay = sub.add_parser("payment", help="Telegram Stars payments").add_subparsers(
        dest="action", required=True
    )
    pay.add_parser("list", help="a user's payments").add_argument("tg_id", type=int)
    pay.add_parser("refund", help="refund (needs BOT_TOKEN)").add_argument("id", type=int)


COMMANDS: dict[str, Callable[[Settings, argparse.Namespace], Awaitable[int | None]]] = {
    "migrate": cmd_migrate,
    "server": cmd_server,
    "token": cmd_token,
    "plan": cmd_plan,
    "promo": cmd_promo,
    "payment": cmd_payment,
    "reconcile": cmd_reconcile,
    "backup": cmd_backup,
    "audit": cmd_audit,
    "restore": cmd_restore,
}


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
