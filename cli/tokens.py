"""``token create|list|revoke``."""

import argparse

from cli.common import Command, domain_context
from domain import audit
from domain.accounts import tokens
from domain.settings import Settings


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``token`` subcommands."""
    tok = sub.add_parser("token", help="manage API tokens").add_subparsers(
        dest="action", required=True
    )
    tok.add_parser("create", help="create a token; printed alone on the last line").add_argument(
        "name"
    )
    tok.add_parser("list", help="list tokens")
    tok.add_parser("revoke", help="revoke a token").add_argument("name")


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


COMMANDS: dict[str, Command] = {"token": cmd_token}
