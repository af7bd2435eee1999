"""Refunds: the Stars go back through Telegram, then the time the payment bought is taken
back from its key (never below now; a key left without time is cut).

Once Telegram has refunded, the payment is marked ``refunding`` (the worker no longer
applies it); if the key cannot be changed yet (server down) the worker finishes later.
"""

import logging
from datetime import timedelta
from typing import Any

from tortoise.transactions import in_transaction

from db.models import KeyState, Payment, PaymentState, VPNKey
from domain import audit
from domain.billing import receipts
from domain.billing.gateway import StarsGateway, require
from domain.billing.payments import get_payment
from domain.context import Context
from domain.errors import Conflict, DomainError
from domain.keys import changes, issuing
from domain.notices.outbox import iso
from domain.redact import describe

logger = logging.getLogger(__name__)
REFUNDABLE = (PaymentState.RECEIVED, PaymentState.APPLIED, PaymentState.REFUNDING)


async def refund_payment(
    ctx: Context, *, payment_id: int, gateway: StarsGateway | None, actor: str
) -> Payment:
    """Refund one payment in full and take back what it bought."""
    payment = await get_payment(payment_id)
    stars = require(gateway)
    if payment.state not in REFUNDABLE:
        raise Conflict(f"payment {payment_id} is already refunded", payment=payment_id)
    # Telegram first: if it refuses, nothing here changed. A refund it already made
    # (a retry after a crash) counts as done.
    await stars.refund(user_id=payment.user_id, charge_id=payment.telegram_payment_charge_id)
    await Payment.filter(id=payment.id, state__in=REFUNDABLE[:2]).update(
        state=PaymentState.REFUNDING
    )
    try:
        await take_back(ctx, payment.id, actor=actor)
    except DomainError as exc:  # the Stars are back; the worker shortens the key later
        logger.warning("refund of payment %s not finished yet: %s", payment.id, describe(exc))
    return await Payment.get(id=payment.id).select_related("order__plan")


def _shorten(ctx: Context, bought: timedelta, payment_id: int) -> changes.Change:
    def change(key: VPNKey) -> dict[str, Any]:
        if key.valid_until is not None:
            key.valid_until = max(ctx.now(), key.valid_until - bought)
        return {"valid_until": iso(key.valid_until), "payment": payment_id}

    return change


async def take_back(ctx: Context, payment_id: int, *, actor: str) -> None:
    """Mark a refunded payment so and shorten its key (a server failure: the worker retries)."""
    payment = await Payment.get(id=payment_id).select_related("order__plan")
    key = await issuing.current_key(payment.key_id) if payment.key_id else None
    bought = (
        payment.extended_to - payment.extended_from
        if payment.extended_to is not None and payment.extended_from is not None
        else None
    )

    async def mark(changed: VPNKey | None) -> None:
        done = await Payment.filter(id=payment.id, state=PaymentState.REFUNDING).update(
            state=PaymentState.REFUNDED, refunded_at=ctx.now()
        )
        if not done:
            raise Conflict(f"payment {payment.id} is not being refunded", payment=payment.id)
        payment.state = PaymentState.REFUNDED
        details = {"payment": receipts.payment_payload(payment)}
        await audit.record(
            actor, "payment.refunded", key=changed, user_id=payment.user_id, details=details
        )
        await receipts.enqueue_refund(payment, payment.order.plan, changed)

    if key is None or key.state != KeyState.LIVE or not bought:
        async with in_transaction():
            await mark(None)
        return
    change = _shorten(ctx, bought, payment.id)
    await changes.change_key(
        ctx, key.id, None, change, actor=actor, action="key.shortened", also=mark
    )


async def finish_refunds(ctx: Context) -> int:
    """The worker's round: take back what refunded payments bought, where still owed."""
    finished = 0
    for payment_id in await Payment.filter(state=PaymentState.REFUNDING).values_list(
        "id", flat=True
    ):
        try:
            await take_back(ctx, payment_id, actor=audit.WORKER)
        except DomainError as exc:
            logger.warning("refund of payment %s not finished yet: %s", payment_id, describe(exc))
            continue
        finished += 1
    return finished
