"""Taking a Telegram Stars payment: stored once per charge id, then applied to its key.

``take_payment`` is what the bot calls on ``successful_payment``. The charge is stored
first (``telegram_payment_charge_id`` is unique), so a re-delivered update finds it and
extends nothing again; applying it may wait for a VPN server, never lose it.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from db.models import Order, OrderState, Payment, PaymentState, Plan, VPNKey
from domain import audit, bounds
from domain.accounts import users
from domain.billing import referrals
from domain.billing.applying import apply_payment
from domain.billing.gateway import CURRENCY
from domain.billing.orders import NotPayable, order_by_token
from domain.billing.plans import MAX_ID
from domain.billing.receipts import payment_payload
from domain.context import Context
from domain.errors import DomainError, NotFound
from domain.redact import describe

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Charge:
    """What Telegram's ``successful_payment`` says."""

    payload: str
    amount: int
    currency: str
    charge_id: str
    provider_charge_id: str | None = None
    is_recurring: bool = False
    subscription_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    """A stored payment, the key it went to (``None`` while it waits for the server) and
    whether Telegram had delivered it before."""

    payment: Payment
    plan: Plan
    key: VPNKey | None
    repeated: bool


async def _order_for(charge: Charge, tg_id: int) -> Order:
    order = await order_by_token(charge.payload)
    if order is None:
        raise NotPayable("payment for an unknown order", reason="unknown")
    if order.user_id != tg_id:
        raise NotPayable(f"order {order.id} belongs to another user", reason="not_yours")
    if charge.currency != CURRENCY or charge.amount != order.price:
        raise NotPayable(f"order {order.id} costs {order.price} {CURRENCY}", reason="amount")
    return order


async def record_payment(ctx: Context, *, tg_id: int, charge: Charge) -> tuple[Payment, bool]:
    """Store the charge (or find it, when Telegram delivers it again); ``(payment, repeated)``."""
    found = await Payment.get_or_none(telegram_payment_charge_id=charge.charge_id)
    if found is not None:
        if found.user_id != tg_id:
            raise NotPayable(f"payment {found.id} belongs to another user", reason="not_yours")
        return found, True
    order = await _order_for(charge, tg_id)
    renewal = order.state == OrderState.PAID and charge.is_recurring
    try:
        async with in_transaction():
            payment = await Payment.create(
                order=order,
                user_id=tg_id,
                telegram_payment_charge_id=charge.charge_id,
                provider_payment_charge_id=charge.provider_charge_id or None,
                amount=charge.amount,
                currency=charge.currency,
                is_recurring=charge.is_recurring,
                days=order.plan.days if renewal else order.days,
                paid_at=ctx.now(),
            )
            await _mark_paid(order, charge)
            details = {"payment": payment_payload(payment)}
            await audit.record(
                audit.tg_actor(tg_id), "payment.received", user_id=tg_id, details=details
            )
    except IntegrityError:  # the same charge stored by a parallel delivery
        return await Payment.get(telegram_payment_charge_id=charge.charge_id), True
    return payment, False


async def _mark_paid(order: Order, charge: Charge) -> None:
    fields = {"state": OrderState.PAID}
    if charge.is_recurring:
        fields["subscription_until"] = charge.subscription_until
        if order.subscription_charge_id is None:  # the first charge names the subscription
            fields["subscription_charge_id"] = charge.charge_id
    await Order.filter(id=order.id).update(**fields)


async def try_apply(ctx: Context, payment: Payment, *, notify: bool) -> VPNKey | None:
    """Apply a received payment now; a server failure leaves it for the worker."""
    try:
        return await apply_payment(ctx, payment.id, notify=notify)
    except DomainError as exc:
        error = describe(exc)
        logger.warning("payment %s not applied yet: %s", payment.id, error)
        await Payment.filter(id=payment.id).update(attempts=F("attempts") + 1, last_error=error)
        return None


async def take_payment(ctx: Context, *, tg_id: int, charge: Charge) -> PaymentOutcome:
    """Store and apply a successful payment (once, whatever Telegram re-delivers)."""
    payment, repeated = await record_payment(ctx, tg_id=tg_id, charge=charge)
    await try_apply(ctx, payment, notify=False)
    await referrals.apply_bonuses(ctx, referred_id=tg_id)
    payment = await Payment.get(id=payment.id).select_related("order__plan")
    key = None
    if payment.key_id is not None and payment.state != PaymentState.RECEIVED:
        key = await VPNKey.get(id=payment.key_id).select_related("server")
    return PaymentOutcome(payment=payment, plan=payment.order.plan, key=key, repeated=repeated)


async def apply_received(ctx: Context) -> int:
    """The worker's round: apply every payment still waiting, oldest first."""
    applied = 0
    for payment in await Payment.filter(state=PaymentState.RECEIVED).order_by("id"):
        if await try_apply(ctx, payment, notify=True) is not None:
            applied += 1
    return applied


async def get_payment(payment_id: int) -> Payment:
    """One payment with its plan."""
    payment = None
    if bounds.in_range(payment_id, MAX_ID):
        payment = await Payment.get_or_none(id=payment_id).select_related("order__plan")
    if payment is None:
        raise NotFound(f"payment {payment_id} not found", payment=payment_id)
    return payment


async def user_payments(tg_id: int, limit: int = 50) -> list[Payment]:
    """A user's payments, newest first, with their plans."""
    query = Payment.filter(user_id=tg_id).select_related("order__plan")
    return await query.order_by("-id").limit(limit)


async def payments_of(tg_id: int) -> list[Payment]:
    """Every payment of a known user (an unknown user is ``NotFound``), newest first."""
    await users.get_user(tg_id)
    return await user_payments(tg_id, limit=1000)
