"""What a payment tells others: its webhook payload and the owner's deferred receipts."""

from typing import Any

from db.models import Notice, Payment, Plan, VPNKey
from domain.notices import outbox

PAID = "payment_applied"
REFUNDED = "payment_refunded"
BONUS = "referral_bonus"


def payment_payload(payment: Payment) -> dict[str, Any]:
    """A payment as plain JSON (outgoing webhooks, audit details, the API)."""
    return {
        "id": payment.id,
        "tg_id": payment.user_id,
        "order_id": payment.order_id,
        "key_id": payment.key_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "telegram_payment_charge_id": payment.telegram_payment_charge_id,
        "is_recurring": payment.is_recurring,
        "days": payment.days,
        "state": str(payment.state),
        "paid_at": outbox.iso(payment.paid_at),
    }


def _plan(plan: Plan) -> dict[str, Any]:
    return {"plan_en": plan.name_en, "plan_ru": plan.name_ru}


async def _enqueue(kind: str, user_id: int, key: VPNKey | None, extra: dict[str, Any]) -> None:
    dedup = f"tg:{kind}:{extra.get('payment_id') or extra.get('bonus_id')}"
    if key is None:
        notice = Notice(
            channel=outbox.TELEGRAM, kind=kind, user_id=user_id, payload=extra, dedup_key=dedup
        )
    else:
        server = await outbox.server_name(key)
        notice = outbox.telegram_notice(kind, key, server, dedup_key=dedup, **extra)
    await outbox.enqueue([notice])


async def enqueue_receipt(payment: Payment, plan: Plan, key: VPNKey) -> None:
    """The receipt of a payment the worker applied (the bot answers the others itself)."""
    extra = {"payment_id": payment.id, "amount": payment.amount, "days": payment.days}
    await _enqueue(PAID, payment.user_id, key, extra | _plan(plan))


async def enqueue_refund(payment: Payment, plan: Plan, key: VPNKey | None) -> None:
    """Tell the payer their payment was refunded (and what their key is valid until)."""
    extra = {"payment_id": payment.id, "amount": payment.amount}
    await _enqueue(REFUNDED, payment.user_id, key, extra | _plan(plan))


async def enqueue_bonus(bonus_id: int, user_id: int, key: VPNKey, days: int) -> None:
    """Tell a referrer their key got bonus days for a friend's first payment."""
    await _enqueue(BONUS, user_id, key, {"bonus_id": bonus_id, "days": days})
