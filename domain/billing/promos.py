"""Promo codes: percent off or free days, entered at checkout; one use per user.

A use is taken when the order is stored, by a conditional update (``uses < max_uses``)
inside the order's transaction, so parallel checkouts can never exceed the limit; an
order that expires unpaid gives its use back.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from db.models import Order, OrderState, Plan, PromoCode, PromoRedemption
from domain import audit, bounds
from domain.billing import plans
from domain.errors import Conflict, Invalid, NotFound

CODE_RE = re.compile(r"[A-Z0-9_-]{3,32}")


class PromoRefused(Invalid):
    """A promo code that cannot be used: ``reason`` is unknown, expired, used_up or used."""

    code = "promo_refused"


@dataclass(frozen=True, slots=True)
class Terms:
    """What an order costs and gives once a promo code is applied."""

    price: int
    days: int


def normalise(code: str) -> str:
    """A code as stored: stripped and upper-case."""
    return code.strip().upper()


async def create_promo(
    code: str,
    *,
    percent_off: int | None = None,
    free_days: int | None = None,
    max_uses: int | None = None,
    valid_until: datetime | None = None,
    actor: str,
) -> PromoCode:
    """A new code giving either a discount in percent or free days."""
    code = normalise(code)
    if not CODE_RE.fullmatch(code):
        raise Invalid("a promo code is 3-32 letters, digits, '-' or '_'", field="code")
    if (percent_off is None) == (free_days is None):
        raise Invalid("give either percent_off or free_days", field="percent_off")
    if percent_off is not None and not 1 <= percent_off <= 99:
        raise Invalid("percent_off must be between 1 and 99", field="percent_off")
    if free_days is not None and not 1 <= free_days <= plans.MAX_DAYS:
        raise Invalid(f"free_days must be between 1 and {plans.MAX_DAYS}", field="free_days")
    if max_uses is not None and not bounds.in_range(max_uses, bounds.MAX_ROW_ID):
        raise Invalid(f"max_uses must be between 1 and {bounds.MAX_ROW_ID}", field="max_uses")
    bounds.check_expiry(valid_until, field="valid_until")
    try:
        promo = await PromoCode.create(
            code=code,
            percent_off=percent_off,
            free_days=free_days,
            max_uses=max_uses,
            valid_until=valid_until,
        )
    except IntegrityError:
        raise Conflict(f"promo code {code} already exists", promo=code) from None
    await audit.record(actor, "promo.created", details={"code": code})
    return promo


async def list_promos() -> list[PromoCode]:
    """Every promo code, newest first."""
    return await PromoCode.all().order_by("-id")


async def retire_promo(code: str, *, now: datetime, actor: str) -> PromoCode:
    """End a code now: checkouts refuse it as expired; the uses it had stay counted."""
    code = normalise(code)
    promo = await PromoCode.get_or_none(code=code) if CODE_RE.fullmatch(code) else None
    if promo is None:
        raise NotFound(f"promo code {code} not found", promo=code)
    still_valid = Q(valid_until__isnull=True) | Q(valid_until__gt=now)
    async with in_transaction():
        if await PromoCode.filter(still_valid, id=promo.id).update(valid_until=now):
            await audit.record(actor, "promo.retired", details={"code": code})
    return await PromoCode.get(id=promo.id)


def terms(plan: Plan, promo: PromoCode | None) -> Terms:
    """The price and days of ``plan`` with ``promo`` applied (never below one Star)."""
    if promo is None:
        return Terms(plan.price_stars, plan.days)
    price = plan.price_stars * (100 - (promo.percent_off or 0)) // 100
    return Terms(max(1, price), plan.days + (promo.free_days or 0))


async def usable_promo(code: str, now: datetime) -> PromoCode:
    """The promo code, if it exists, is still valid and has uses left."""
    code = normalise(code)
    promo = await PromoCode.get_or_none(code=code) if CODE_RE.fullmatch(code) else None
    if promo is None:
        raise PromoRefused("unknown promo code", reason="unknown")
    if promo.valid_until is not None and promo.valid_until <= now:
        raise PromoRefused(f"promo code {promo.code} has expired", reason="expired")
    if promo.max_uses is not None and promo.uses >= promo.max_uses:
        raise PromoRefused(f"promo code {promo.code} is used up", reason="used_up")
    return promo


async def redeem(promo: PromoCode, *, tg_id: int, order: Order) -> None:
    """Take one use of ``promo`` for ``order`` (call inside the order's transaction).

    A use the same user holds for an order still unpaid moves to the new order (which
    replaces the old one); a used one is refused.
    """
    held = await PromoRedemption.get_or_none(promo=promo, user_id=tg_id).select_related("order")
    if held is not None:
        if held.order is None or held.order.state != OrderState.PENDING:
            raise PromoRefused(f"promo code {promo.code} was already used", reason="used")
        await Order.filter(id=held.order.id).update(state=OrderState.CANCELLED)
        held.order = order
        await held.save(update_fields=["order_id"])
        return
    taken = (
        await PromoCode.filter(id=promo.id)
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    if not taken:
        raise PromoRefused(f"promo code {promo.code} is used up", reason="used_up")
    try:
        await PromoRedemption.create(promo=promo, user_id=tg_id, order=order)
    except IntegrityError:  # a parallel checkout of the same user got there first
        raise PromoRefused(f"promo code {promo.code} was already used", reason="used") from None


async def release(order: Order) -> None:
    """Give back the use an unpaid order held (call inside the order's transaction)."""
    deleted = await PromoRedemption.filter(order_id=order.id).delete()
    if deleted and order.promo_id is not None:
        await PromoCode.filter(id=order.promo_id, uses__gt=0).update(uses=F("uses") - 1)
