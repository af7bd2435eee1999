"""Plans the operator sells: days, traffic, monthly reset, price in Stars, servers."""

from dataclasses import dataclass, replace
from typing import Any

from tortoise.transactions import in_transaction

from db.models import Plan, TrafficReset, VPNServer
from domain import audit, bounds
from domain.context import Context
from domain.errors import Invalid, NotFound
from domain.servers import registry
from domain.servers.probe import answering

NAME_MAX = 32  # Telegram's limit for an invoice title
MAX_DAYS = 3650
MAX_STARS = 100_000
SUBSCRIPTION_DAYS = 30
MAX_ID = bounds.MAX_ROW_ID  # plans, orders, payments and promo codes: 32-bit ids


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """Everything a plan says; ``servers`` empty means every active server."""

    name_en: str
    name_ru: str
    days: int
    price_stars: int
    traffic_limit: int | None = None
    monthly_reset: bool = False
    servers: tuple[str, ...] = ()
    recurring: bool = False


def _check(spec: PlanSpec) -> PlanSpec:
    for field in ("name_en", "name_ru"):
        name = getattr(spec, field).strip()
        if not 1 <= len(name) <= NAME_MAX:
            raise Invalid(f"{field} must be 1-{NAME_MAX} characters", field=field)
        spec = replace(spec, **{field: name})
    if not 1 <= spec.days <= MAX_DAYS:
        raise Invalid(f"days must be between 1 and {MAX_DAYS}", field="days")
    if not 1 <= spec.price_stars <= MAX_STARS:
        raise Invalid(f"price must be between 1 and {MAX_STARS} Stars", field="price_stars")
    if bounds.check_bytes(spec.traffic_limit) == 0:
        raise Invalid("traffic limit must be positive (or unlimited)", field="traffic_limit")
    if spec.recurring and spec.days != SUBSCRIPTION_DAYS:
        raise Invalid("a recurring plan renews every 30 days: days must be 30", field="days")
    return spec


async def _server_ids(names: tuple[str, ...]) -> list[int]:
    return [(await registry.get_server(name)).id for name in names]


def _fields(spec: PlanSpec, server_ids: list[int]) -> dict[str, Any]:
    reset = TrafficReset.MONTHLY if spec.monthly_reset else TrafficReset.NO_RESET
    return {
        "name_en": spec.name_en,
        "name_ru": spec.name_ru,
        "days": spec.days,
        "price_stars": spec.price_stars,
        "traffic_limit": spec.traffic_limit,
        "traffic_reset": reset,
        "server_ids": server_ids,
        "recurring": spec.recurring,
    }


async def create_plan(spec: PlanSpec, *, actor: str) -> Plan:
    """A new plan, on sale at once."""
    spec = _check(spec)
    fields = _fields(spec, await _server_ids(spec.servers))
    async with in_transaction():
        plan = await Plan.create(**fields)
        await audit.record(actor, "plan.created", details={"plan": plan.id, **_details(fields)})
    return plan


async def get_plan(plan_id: int) -> Plan:
    """One plan, on sale or retired."""
    plan = await Plan.get_or_none(id=plan_id) if bounds.in_range(plan_id, MAX_ID) else None
    if plan is None:
        raise NotFound(f"plan {plan_id} not found", plan=plan_id)
    return plan


async def spec_of(plan: Plan) -> PlanSpec:
    """What ``plan`` says now, as a spec (server names, not ids)."""
    names = await VPNServer.filter(id__in=plan.server_ids).values_list("name", flat=True)
    return PlanSpec(
        name_en=plan.name_en,
        name_ru=plan.name_ru,
        days=plan.days,
        price_stars=plan.price_stars,
        traffic_limit=plan.traffic_limit,
        monthly_reset=plan.traffic_reset == TrafficReset.MONTHLY,
        servers=tuple(sorted(names)),
        recurring=plan.recurring,
    )


async def update_plan(plan_id: int, changes: dict[str, Any], *, actor: str) -> Plan:
    """Change some of a plan's terms; orders not yet paid at the old price are then refused."""
    plan = await get_plan(plan_id)
    try:
        spec = _check(replace(await spec_of(plan), **changes))
    except TypeError:
        raise Invalid(f"unknown plan fields: {', '.join(sorted(changes))}") from None
    fields = _fields(spec, await _server_ids(spec.servers))
    changed = {k: v for k, v in fields.items() if getattr(plan, k) != v}
    if changed:
        async with in_transaction():
            plan.update_from_dict(changed)
            await plan.save(update_fields=[*changed, "updated_at"])
            details = {"plan": plan.id, **_details(changed)}
            await audit.record(actor, "plan.updated", details=details)
    return plan


async def retire_plan(plan_id: int, *, actor: str) -> Plan:
    """Take a plan off sale; keys and subscriptions bought with it keep working."""
    plan = await get_plan(plan_id)
    if plan.is_active:
        async with in_transaction():
            plan.is_active = False
            await plan.save(update_fields=["is_active", "updated_at"])
            await audit.record(actor, "plan.retired", details={"plan": plan.id})
    return plan


async def list_plans(*, on_sale: bool = False) -> list[Plan]:
    """Every plan (or only those on sale), cheapest first."""
    query = Plan.filter(is_active=True) if on_sale else Plan.all()
    return await query.order_by("price_stars", "id")


async def plan_servers(plan: Plan) -> list[VPNServer]:
    """The active servers new keys of ``plan`` can go to."""
    active = await registry.list_servers(active_only=True)
    return [s for s in active if not plan.server_ids or s.id in plan.server_ids]


async def servers_to_offer(ctx: Context, plan: Plan) -> list[VPNServer]:
    """The servers a user may choose for a new key of ``plan``: as the trial's picker, a
    choice of several lists only those that answer now (ServerUnavailable when none does)."""
    servers = await plan_servers(plan)
    return await answering(ctx, servers) if len(servers) > 1 else servers


def plan_name(plan: Plan, language: str | None) -> str:
    """The plan's name in ``language`` (English unless Russian)."""
    return plan.name_ru if language == "ru" else plan.name_en


def _details(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, TrafficReset) else v) for k, v in fields.items()}
