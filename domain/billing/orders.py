"""Checkout: what a user may buy for which key or server, the stored order, its re-check.

An order is stored before its invoice is sent; the invoice payload is the order's
random ``token``. ``payable_order`` is what ``pre_checkout_query`` asks just before the
user is charged: the order must still be theirs, unpaid, at the plan's current price.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from db.models import KeyState, Order, OrderState, Plan, VPNKey, VPNServer
from domain import audit, bounds
from domain.billing import plans, promos
from domain.billing.gateway import CURRENCY
from domain.context import Context
from domain.errors import Conflict, Invalid, NotFound
from domain.keys import issuing

ORDER_TTL = timedelta(hours=24)
# An invoice payload we made: ``secrets.token_urlsafe(16)``, 22 characters.
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22}")


class NotPayable(Conflict):
    """An order that cannot be paid (any more); ``reason`` says why."""

    code = "not_payable"


@dataclass(frozen=True, slots=True)
class Targets:
    """What a plan can be bought for: the user's keys to extend, servers for a new key."""

    plan: Plan
    keys: list[VPNKey] = field(default_factory=list)
    servers: list[VPNServer] = field(default_factory=list)


def extendable(key: VPNKey, plan: Plan) -> bool:
    """Whether ``plan`` can extend ``key`` (a key without expiry has nothing to extend)."""
    on_server = not plan.server_ids or key.server_id in plan.server_ids
    return key.state == KeyState.LIVE and key.valid_until is not None and on_server


@dataclass(frozen=True, slots=True)
class Offers:
    """The plans on sale (those that can extend ``key``, when a key is given).

    When plans are on sale but none can extend ``key``, ``new_key`` holds them (they can
    still buy a new key) and ``reason`` says why: ``no_expiry`` or ``server``.
    """

    plans: list[Plan]
    key: VPNKey | None = None
    new_key: list[Plan] = field(default_factory=list)
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A plan and what it is bought for: a key to extend or a server for a new key."""

    plan: Plan
    key: VPNKey | None = None
    server: VPNServer | None = None


async def order_by_token(token: str) -> Order | None:
    """The order behind an invoice payload (``None`` for one we never made)."""
    if not TOKEN_RE.fullmatch(token):
        return None
    return await Order.get_or_none(token=token).select_related("plan", "server")


def _own_key(tg_id: int, key_id: int, **filters: object) -> QuerySet[VPNKey]:
    """The query for ``tg_id``'s key ``key_id`` (an impossible id matches nothing)."""
    ids = [key_id] if bounds.in_range(key_id, bounds.MAX_ROW_ID) else []
    return VPNKey.filter(id__in=ids, owner_id=tg_id, **filters)


async def offers(tg_id: int, key_id: int | None = None) -> Offers:
    """What the user can buy, or buy for one of their keys."""
    on_sale = await plans.list_plans(on_sale=True)
    if key_id is None:
        return Offers(plans=on_sale)
    key = await _own_key(tg_id, key_id, state=KeyState.LIVE).first()
    if key is None:
        raise NotFound(f"key {key_id} not found", key=key_id)
    extending = [p for p in on_sale if extendable(key, p)]
    if extending or not on_sale:
        return Offers(plans=extending, key=key)
    reason = "no_expiry" if key.valid_until is None else "server"
    return Offers(plans=[], key=key, new_key=on_sale, reason=reason)


async def on_sale(plan_id: int) -> Plan:
    """A plan that is on sale now."""
    plan = await plans.get_plan(plan_id)
    if not plan.is_active:
        raise NotPayable(f"plan {plan_id} is no longer on sale", reason="plan_retired")
    return plan


async def targets(
    ctx: Context, tg_id: int, plan_id: int, key_id: int | None = None, *, new_key: bool = False
) -> Targets:
    """The user's keys ``plan`` can extend (only ``key_id`` if given) or, with none to
    extend (or for ``new_key``), the servers to offer for a new key."""
    plan = await on_sale(plan_id)
    if new_key:
        return Targets(plan=plan, servers=await plans.servers_to_offer(ctx, plan))
    if key_id is None:
        query = VPNKey.filter(owner_id=tg_id, state=KeyState.LIVE)
    else:
        query = _own_key(tg_id, key_id, state=KeyState.LIVE)
    keys = [k for k in await query.select_related("server").order_by("id") if extendable(k, plan)]
    if key_id is not None and not keys:
        raise NotFound(f"key {key_id} cannot be extended with plan {plan_id}", key=key_id)
    if keys:
        return Targets(plan=plan, keys=keys)
    return Targets(plan=plan, servers=await plans.servers_to_offer(ctx, plan))


async def _target(
    tg_id: int, plan: Plan, key_id: int | None, server_id: int | None
) -> dict[str, VPNKey | VPNServer]:
    if (key_id is None) == (server_id is None):
        raise Invalid("give either the key to extend or the server of a new key", field="key")
    if key_id is not None:
        key = await _own_key(tg_id, key_id).first()
        if key is None or not extendable(key, plan):
            raise NotFound(f"key {key_id} cannot be extended with plan {plan.id}", key=key_id)
        return {"key": key}
    server = next((s for s in await plans.plan_servers(plan) if s.id == server_id), None)
    if server is None:
        raise NotFound(f"server {server_id} is not available for this plan", server=server_id)
    return {"server": server}


async def quote(
    tg_id: int, plan_id: int, *, key_id: int | None = None, server_id: int | None = None
) -> Quote:
    """The summary shown before paying (checked as the checkout will check it)."""
    plan = await on_sale(plan_id)
    target = await _target(tg_id, plan, key_id, server_id)
    return Quote(plan=plan, **target)  # type: ignore[arg-type]


async def checkout(
    ctx: Context,
    *,
    tg_id: int,
    plan_id: int,
    key_id: int | None = None,
    server_id: int | None = None,
    promo_code: str | None = None,
    actor: str,
) -> Order:
    """Store the order an invoice will be sent for (taking a promo code's use, if any)."""
    plan = await on_sale(plan_id)
    target = await _target(tg_id, plan, key_id, server_id)
    promo = await promos.usable_promo(promo_code, ctx.now()) if promo_code is not None else None
    terms = promos.terms(plan, promo)
    async with in_transaction():
        order = await Order.create(
            token=secrets.token_urlsafe(16),
            user_id=tg_id,
            plan=plan,
            promo=promo,
            plan_price=plan.price_stars,
            price=terms.price,
            days=terms.days,
            expires_at=ctx.now() + ORDER_TTL,
            **target,
        )
        if promo is not None:
            await promos.redeem(promo, tg_id=tg_id, order=order)
        details = {"order": order.id, "plan": plan.id, "price": order.price}
        await audit.record(actor, "order.created", user_id=tg_id, details=details)
    order.plan = plan
    return order


async def payable_order(
    ctx: Context, *, token: str, tg_id: int, amount: int, currency: str
) -> Order:
    """The order behind an invoice, if it can be paid now; ``NotPayable`` says why not."""
    order = await order_by_token(token)
    if order is None:
        raise NotPayable("unknown order", reason="unknown")
    if order.user_id != tg_id:
        raise NotPayable(f"order {order.id} belongs to another user", reason="not_yours")
    if currency != CURRENCY or amount != order.price:
        raise NotPayable(f"order {order.id} costs {order.price} {CURRENCY}", reason="amount")
    if order.state == OrderState.PAID:
        raise NotPayable(f"order {order.id} is already paid", reason="paid")
    if order.state != OrderState.PENDING or order.expires_at <= ctx.now():
        raise NotPayable(f"order {order.id} has expired", reason="expired")
    if not order.plan.is_active:
        raise NotPayable(f"plan {order.plan.id} is no longer on sale", reason="plan_retired")
    if order.plan.price_stars != order.plan_price:
        raise NotPayable(f"the price of plan {order.plan.id} changed", reason="price_changed")
    key = await issuing.current_key(order.key_id) if order.key_id is not None else None
    if order.key_id is not None and (key is None or key.state != KeyState.LIVE):
        raise NotPayable(f"key {order.key_id} has been deleted", reason="key_deleted")
    if order.key_id is None and (order.server is None or not order.server.is_active):
        raise NotPayable("the server of this order is not available", reason="server")
    return order


async def expire_orders(now: datetime) -> int:
    """Mark unpaid orders past their time as expired, giving back their promo uses."""
    stale = await Order.filter(state=OrderState.PENDING, expires_at__lte=now)
    for order in stale:
        async with in_transaction():
            if await Order.filter(id=order.id, state=OrderState.PENDING).update(
                state=OrderState.EXPIRED
            ):
                await promos.release(order)
    return len(stale)
