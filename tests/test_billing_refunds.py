"""Refunds and subscriptions: the Stars go back through Telegram and the time they bought
goes with them; auto-renewal is cancelled (or resumed) through Telegram too."""

from datetime import timedelta

import pytest

from db.models import InactiveReason, Notice, Order, Payment, PaymentState, VPNKey
from domain.billing import orders, payments, refunds, subscriptions
from domain.billing.gateway import PaymentsUnavailable, StarsRefused
from domain.billing.payments import PaymentOutcome
from domain.billing.upkeep import settle_billing
from domain.errors import Conflict, NotFound
from domain.keys import issuing
from tests.billing_fixtures import FakeStars, charge_for, make_plan
from tests.worker_fixtures import OWNER, new_key

pytestmark = pytest.mark.usefixtures("owner")


async def _paid_extension(ctx, plan, days: int) -> tuple[VPNKey, Payment]:
    key = await new_key(ctx, days=days)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    return key, outcome.payment


async def _subscribed(ctx, clock, server) -> tuple[Order, PaymentOutcome]:
    """A recurring plan's first charge (``sub-1``), paid until 30 days from now."""
    plan = await make_plan(recurring=True)
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    until = clock.now() + timedelta(days=30)
    charge = charge_for(order, charge_id="sub-1", recurring=True, until=until)
    return order, await payments.take_payment(ctx, tg_id=OWNER, charge=charge)


async def test_a_refund_takes_back_exactly_the_time_the_payment_bought(
    ctx, clock, plan, stars: FakeStars
) -> None:
    key, payment = await _paid_extension(ctx, plan, days=10)
    refunded = await refunds.refund_payment(
        ctx, payment_id=payment.id, gateway=stars, actor="tg:900"
    )
    assert refunded.state == PaymentState.REFUNDED and refunded.refunded_at == clock.now()
    assert stars.refunds == [(OWNER, payment.telegram_payment_charge_id)]
    fresh = await VPNKey.get(id=key.id)
    assert fresh.valid_until == clock.now() + timedelta(days=10) and fresh.is_active
    notice = await Notice.get(kind="payment_refunded")
    assert notice.user_id == OWNER and notice.payload["amount"] == 100


async def test_a_refund_never_moves_expiry_into_the_past_and_cuts_the_key(
    ctx, clock, plan, stars: FakeStars, outline_server
) -> None:
    key, payment = await _paid_extension(ctx, plan, days=2)
    clock.advance(days=20)  # 12 of the 32 days are left, less than the 30 bought
    await refunds.refund_payment(ctx, payment_id=payment.id, gateway=stars, actor="cli")
    fresh = await VPNKey.get(id=key.id)
    assert fresh.valid_until == clock.now()
    assert (fresh.is_active, fresh.inactive_reason) == (False, InactiveReason.EXPIRED)
    assert outline_server.emulator.keys[key.remote_id].limit == 0


async def test_a_refund_telegram_refuses_or_a_second_refund_changes_nothing(
    ctx, clock, plan, stars: FakeStars
) -> None:
    key, payment = await _paid_extension(ctx, plan, days=10)
    stars.refuse = True
    with pytest.raises(StarsRefused):
        await refunds.refund_payment(ctx, payment_id=payment.id, gateway=stars, actor="cli")
    assert (await Payment.get(id=payment.id)).state == PaymentState.APPLIED
    assert (await VPNKey.get(id=key.id)).valid_until == clock.now() + timedelta(days=40)
    stars.refuse = False
    await refunds.refund_payment(ctx, payment_id=payment.id, gateway=stars, actor="cli")
    with pytest.raises(Conflict, match="already refunded"):
        await refunds.refund_payment(ctx, payment_id=payment.id, gateway=stars, actor="cli")
    with pytest.raises(NotFound):
        await refunds.refund_payment(ctx, payment_id=999, gateway=stars, actor="cli")
    with pytest.raises(PaymentsUnavailable, match="BOT_TOKEN"):
        await refunds.refund_payment(ctx, payment_id=payment.id, gateway=None, actor="cli")
    assert len(stars.refunds) == 1


async def test_a_refund_while_the_server_is_down_is_finished_by_the_worker(
    ctx, clock, plan, stars: FakeStars, outline_server
) -> None:
    key, payment = await _paid_extension(ctx, plan, days=2)
    clock.advance(days=5)
    outline_server.emulator.faults.fail_next(1000, 503)
    refunding = await refunds.refund_payment(
        ctx, payment_id=payment.id, gateway=stars, actor="cli"
    )
    assert refunding.state == PaymentState.REFUNDING and len(stars.refunds) == 1
    outline_server.emulator.faults.rules.clear()
    await settle_billing(ctx)
    assert (await Payment.get(id=payment.id)).state == PaymentState.REFUNDED
    assert (await VPNKey.get(id=key.id)).inactive_reason == InactiveReason.EXPIRED


async def test_auto_renewal_is_cancelled_and_resumed_from_the_key(
    ctx, clock, server, stars: FakeStars
) -> None:
    order, first = await _subscribed(ctx, clock, server)
    key = first.key
    assert key is not None
    card = await subscriptions.key_card(ctx, tg_id=OWNER, key_id=key.id)
    assert card.renews and card.renewal is not None and card.renewal.id == order.id
    off = await subscriptions.set_auto_renew(
        ctx, tg_id=OWNER, key_id=key.id, renew=False, gateway=stars, actor="tg:100"
    )
    assert not off.renews and stars.renewals == [(OWNER, "sub-1", True)]
    assert (await Order.get(id=order.id)).renewal_cancelled_at == clock.now()
    on = await subscriptions.set_auto_renew(
        ctx, tg_id=OWNER, key_id=key.id, renew=True, gateway=stars, actor="tg:100"
    )
    assert on.renews and stars.renewals[-1] == (OWNER, "sub-1", False)
    clock.advance(days=31)
    assert (await subscriptions.key_card(ctx, tg_id=OWNER, key_id=key.id)).renewal is None


async def test_a_key_without_a_subscription_has_no_renewal_to_cancel(
    ctx, plan, stars: FakeStars
) -> None:
    key, _ = await _paid_extension(ctx, plan, days=3)
    with pytest.raises(NotFound):
        await subscriptions.set_auto_renew(
            ctx, tg_id=OWNER, key_id=key.id, renew=False, gateway=stars, actor="tg:100"
        )
    with pytest.raises(NotFound):  # someone else's key looks like a missing one
        await subscriptions.key_card(ctx, tg_id=OWNER + 1, key_id=key.id)
    assert stars.renewals == []


async def test_a_refreshed_key_keeps_its_subscription_renewals_and_refunds(
    ctx, clock, server, stars: FakeStars
) -> None:
    order, first = await _subscribed(ctx, clock, server)
    until = clock.now() + timedelta(days=30)
    assert first.key is not None
    new = await issuing.refresh_key(ctx, key_id=first.key.id, server="alpha", actor="t")
    card = await subscriptions.key_card(ctx, tg_id=OWNER, key_id=new.id)
    assert card.renewal is not None and card.renewal.id == order.id
    renewal = charge_for(order, charge_id="sub-2", recurring=True, until=until + timedelta(30))
    second = await payments.take_payment(ctx, tg_id=OWNER, charge=renewal)
    assert second.key is not None and second.key.id == new.id
    assert second.key.valid_until == until + timedelta(days=30)
    await refunds.refund_payment(ctx, payment_id=first.payment.id, gateway=stars, actor="cli")
    assert (await VPNKey.get(id=new.id)).valid_until == until
