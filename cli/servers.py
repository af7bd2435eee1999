"""``server add|update|title|list|enable|disable|remove|drain``."""

import argparse
import sys

from tqdm import tqdm

from cli.common import Command, domain_context
from domain import audit
from domain.context import Context
from domain.errors import DomainError
from domain.servers import registry
from domain.servers.drain import drain_server
from domain.settings import Settings


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``server`` subcommands."""
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
            await drain_with_progress(ctx, args)
        elif args.action in ("enable", "disable"):
            await registry.set_server_active(args.name, args.action == "enable", actor=audit.CLI)
            print(f"server '{args.name}' {args.action}d")
        else:
            await registry.remove_server(args.name, actor=audit.CLI)
            print(f"server '{args.name}' removed")


async def drain_with_progress(ctx: Context, args: argparse.Namespace) -> None:
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


COMMANDS: dict[str, Command] = {"server": cmd_server}
