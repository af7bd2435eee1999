"""``plan add|list|update|retire``, ``promo add|list|retire``, ``payment list|refund``."""

import argparse
from typing import Any

from api.fields import parse_valid_until
from cli.common import Command, domain_context
from domain import audit
from domain.billing import payments, plans, promos, refunds
from domain.billing.plans import PlanSpec
from domain.errors import Invalid
from domain.settings import GIB, Settings

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


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``plan``, ``promo`` and ``payment`` subcommands."""
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


COMMANDS: dict[str, Command] = {"plan": cmd_plan, "promo": cmd_promo, "payment": cmd_payment}
