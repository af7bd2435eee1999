"""``migrate``, ``reconcile``, ``backup``, ``restore`` and ``audit``."""

import argparse
import json
from datetime import UTC
from pathlib import Path

from cli.common import Command, domain_context, row_id
from db.connect import describe_url
from db.migrate import apply_migrations
from domain import audit, bounds
from domain.keys.reconcile import reconcile
from domain.operations.audit_log import AuditQuery, parse_moment, read_audit
from domain.operations.backup import write_backup
from domain.operations.restore import restore_backup
from domain.operations.schedule import backup_target
from domain.settings import Settings

DEFAULT_BACKUP_DIR = Path("backups")


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The operations' subcommands."""
    sub.add_parser("migrate", help="apply database migrations to DATABASE_URL")
    rec = sub.add_parser("reconcile", help="repair drift between the database and servers now")
    rec.add_argument("--server", help="only this server")
    rec.add_argument("--dry-run", action="store_true", help="report without changing anything")

    back = sub.add_parser("backup", help="write a consistent backup while the service runs")
    back.add_argument(
        "path", nargs="?", type=Path, help="file or folder (default: BACKUP_DIR or ./backups)"
    )
    aud = sub.add_parser("audit", help="read the audit log, newest first")
    key_id, tg_id = row_id(bounds.MAX_ROW_ID), row_id(bounds.MAX_TG_ID)
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


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    applied = await apply_migrations(settings.database_url)
    print(f"applied {len(applied)} migration(s)" + (f": {', '.join(applied)}" if applied else ""))


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


COMMANDS: dict[str, Command] = {
    "migrate": cmd_migrate,
    "reconcile": cmd_reconcile,
    "backup": cmd_backup,
    "audit": cmd_audit,
    "restore": cmd_restore,
}
