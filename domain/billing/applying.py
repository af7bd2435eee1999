"""Applying a received payment: extend the key it was for, or create the key it bought.

The key write and the payment's ``received → applied`` step share one transaction (a
conditional update), so however often a payment is applied — a re-delivered update, the
worker, two processes — it extends the key once. A VPN server that is down leaves the
payment ``received``; the worker applies it as soon as the server answers again.
"""

from datetime import datetime
from typing import Any

from db.models import (
    KeyState,
    Order,
    Payment,
    PaymentState,
    Plan,
    TrafficReset,
    VPNKey,
    VPNServer,
)
from domain import audit, bounds
from domain.billing import plans, receipts, referrals
from domain.context import Context
from domain.errors import Conflict
from domain.keys import changes, issuing
from domain.keys.changes import Change
from domain.keys.issuing import Hook
from domain.notices.outbox import iso


class AlreadyApplied(Conflict):
    """Another delivery of the same payment applied it first."""

    code = "already_applied"


def _extension(ctx: Context, plan: Plan, days: int, bought: dict[str, datetime]) -> Change:
    def change(key: VPNKey) -> dict[str, Any]:
        now = ctx.now()
        start = max(now, key.valid_until or now)
        bought["from"] = start
        key.valid_until = bounds.extended(start, days)
        key.traffic_limit = plan.traffic_limit
        if plan.traffic_limit is not None:  # the paid allowance starts over
            key.traffic_used = 0
        key.traffic_reset = plan.traffic_reset
        key.period_started_at = now if plan.traffic_reset == TrafficReset.MONTHLY else None
        return {"valid_until": iso(key.valid_until), "days": days, "plan": plan.id}

    return change


def _marker(ctx: Context, payment: Payment, bought: dict[str, datetime], notify: bool) -> Hook:
    async def mark(key: VPNKey) -> None:
        now = ctx.now()
        done = await Payment.filter(id=payment.id, state=PaymentState.RECEIVED).update(
            state=PaymentState.APPLIED,
            key_id=key.id,
            extended_from=bought.get("from", now),
            extended_to=key.valid_until,
            applied_at=now,
            last_error=None,
        )
        if not done:
            raise AlreadyApplied(f"payment {payment.id} is applied already", payment=payment.id)
        payment.key_id, payment.state = key.id, PaymentState.APPLIED
        await Order.filter(id=payment.order_id, key_id__isnull=True).update(key_id=key.id)
        details = {"payment": receipts.payment_payload(payment)}
        await audit.record(
            audit.tg_actor(payment.user_id), "payment.succeeded", key=key, details=details
        )
        await referrals.note_payment(ctx, payment)
        if notify:
            await receipts.enqueue_receipt(payment, payment.order.plan, key)

    return mark


async def _live_target(order: Order) -> VPNKey | None:
    """The key the order was for (or the one that replaced it), if it is still live."""
    key = await issuing.current_key(order.key_id) if order.key_id is not None else None
    return key if key is not None and key.state == KeyState.LIVE else None


async def _server_for(order: Order, plan: Plan) -> VPNServer:
    """The order's server, else the server of the key it was for, else any plan server."""
    key_server = await VPNKey.filter(id=order.key_id).values_list("server_id", flat=True)
    for server_id in (order.server_id, *key_server):
        server = await VPNServer.get_or_none(id=server_id, is_active=True) if server_id else None
        if server is not None:
            return server
    available = await plans.plan_servers(plan)
    if not available:
        raise Conflict("no server is available for this plan", server=None)
    return available[0]


async def apply_payment(ctx: Context, payment_id: int, *, notify: bool = False) -> VPNKey | None:
    """Apply one received payment (earlier ones of its order first); the key, or ``None``
    when it was applied already. ``notify`` queues the receipt (the bot answers itself)."""
    payment = await Payment.get(id=payment_id).select_related("order__plan", "user")
    if payment.state != PaymentState.RECEIVED:
        return None
    earlier = await Payment.filter(
        order_id=payment.order_id, state=PaymentState.RECEIVED, id__lt=payment.id
    ).values_list("id", flat=True)
    for earlier_id in earlier:  # a renewal must not create a second key
        await apply_payment(ctx, earlier_id, notify=True)
    order = await Order.get(id=payment.order_id)
    plan = payment.order.plan
    bought: dict[str, datetime] = {}
    mark = _marker(ctx, payment, bought, notify)
    actor = audit.tg_actor(payment.user_id)
    try:
        target = await _live_target(order)
        if target is not None:
            change = _extension(ctx, plan, payment.days, bought)
            return await changes.change_key(
                ctx, target.id, None, change, actor=actor, action="key.extended", also=mark
            )
        server = await _server_for(order, plan)
        bought["from"] = ctx.now()
        return await issuing.create_key(
            ctx,
            server=server.name,
            actor=actor,
            tg_id=payment.user_id,
            name=plans.plan_name(plan, payment.user.language_code),
            days=payment.days,
            traffic_limit=plan.traffic_limit,
            traffic_reset=plan.traffic_reset,
            also=mark,
        )
    except AlreadyApplied:
        return None
