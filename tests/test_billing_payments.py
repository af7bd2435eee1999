"""Taking Stars payments in the domain: a new key, an extension, a cut key reopened, one
extension per charge id however often it arrives, and payments kept while a server is down."""

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest

from db.models import (
    AuditEvent,
    InactiveReason,
    KeyState,
    Notice,
    Order,
    Payment,
    PaymentState,
    TrafficReset,
    VPNKey,
)
from domain.billing import orders, payments, plans
from domain.billing.orders import NotPayable
from domain.billing.upkeep import settle_billing
from domain.keys import changes
from domain.settings import GIB
from tests.billing_fixtures import charge_for, make_plan
from tests.worker_fixtures import OWNER, new_key

pytestmark = pytest.mark.usefixtures("owner")


async def _expired_key_with_order(ctx, clock, plan) -> tuple[VPNKey, Order]:
    """A one-day key with an order to extend it, two days later: expired and cut."""
    key = await new_key(ctx, days=1)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    clock.advance(days=2)
    await VPNKey.filter(id=key.id).update(is_active=False, inactive_reason=InactiveReason.EXPIRED)
    return key, order


async def test_a_paid_order_for_a_new_key_creates_it_with_the_plan_terms(
    ctx, clock, plan, server, outline_server
) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    key = outcome.key
    assert key is not None and not outcome.repeated
    assert key.name == "Месяц"  # the owner speaks Russian
    assert key.valid_until == clock.now() + timedelta(days=30)
    assert key.traffic_limit == 100 * GIB and key.owner_id == OWNER
    assert outline_server.emulator.keys[key.remote_id].limit == 100 * GIB
    payment = await Payment.get(id=outcome.payment.id)
    assert payment.state == PaymentState.APPLIED and payment.key_id == key.id
    assert (payment.extended_from, payment.extended_to) == (clock.now(), key.valid_until)
    assert (await Order.get(id=order.id)).key_id == key.id
    actions = await AuditEvent.filter(key_id=key.id).values_list("action", flat=True)
    assert list(actions) == ["key.created", "payment.succeeded"]


async def test_extending_adds_days_from_the_later_of_now_and_the_expiry(ctx, clock, plan) -> None:
    key = await new_key(ctx, days=5, traffic_limit=GIB)
    await VPNKey.filter(id=key.id).update(traffic_used=GIB // 2)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    assert outcome.key is not None and outcome.key.id == key.id
    assert outcome.key.valid_until == clock.now() + timedelta(days=35)
    assert (outcome.key.traffic_limit, outcome.key.traffic_used) == (100 * GIB, 0)
    payment = await Payment.get(id=outcome.payment.id)
    assert payment.extended_to - payment.extended_from == timedelta(days=30)


async def test_a_plan_with_monthly_resets_gives_them_to_its_key_and_one_without_ends_them(
    ctx, clock, server
) -> None:
    monthly = await make_plan(monthly_reset=True)
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=monthly.id, server_id=server.id, actor="t"
    )
    key = (await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))).key
    assert key is not None
    fresh = await VPNKey.get(id=key.id)
    assert (fresh.traffic_reset, fresh.period_started_at) == (TrafficReset.MONTHLY, clock.now())
    clock.advance(days=3)
    flat = await make_plan(name_en="Flat", traffic_limit=None)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=flat.id, key_id=key.id, actor="t")
    await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    after = await VPNKey.get(id=key.id)
    assert (after.traffic_reset, after.period_started_at) == (TrafficReset.NO_RESET, None)
    assert after.traffic_limit is None


async def test_an_expired_key_reopens_when_its_extension_is_paid(
    ctx, clock, plan, outline_server
) -> None:
    key, order = await _expired_key_with_order(ctx, clock, plan)
    outline_server.emulator.keys[key.remote_id]["dataLimit"] = {"bytes": 0}
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    assert outcome.key is not None and outcome.key.is_active
    assert outcome.key.valid_until == clock.now() + timedelta(days=30)
    assert outline_server.emulator.keys[key.remote_id].limit == 100 * GIB


async def test_the_same_charge_delivered_twice_extends_once(ctx, clock, plan) -> None:
    key = await new_key(ctx, days=5)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    charge = charge_for(order)
    first, again = await asyncio.gather(
        payments.take_payment(ctx, tg_id=OWNER, charge=charge),
        payments.take_payment(ctx, tg_id=OWNER, charge=charge),
    )
    third = await payments.take_payment(ctx, tg_id=OWNER, charge=charge)
    assert sorted([first.repeated, again.repeated]) == [False, True] and third.repeated
    assert await Payment.all().count() == 1
    assert (await VPNKey.get(id=key.id)).valid_until == clock.now() + timedelta(days=35)
    assert third.key is not None and third.key.id == key.id


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount": 99}, "amount"),
        ({"currency": "USD"}, "amount"),
    ],
)
async def test_a_charge_that_does_not_match_its_order_changes_nothing(
    ctx, plan, server, change, reason
) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    with pytest.raises(NotPayable) as caught:
        await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order, **change))
    assert caught.value.params["reason"] == reason
    assert not await Payment.exists() and not await VPNKey.exists()


async def test_a_forged_payload_or_another_users_order_changes_nothing(ctx, plan, server) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    forged = replace(charge_for(order), payload="forged-payload")
    with pytest.raises(NotPayable, match="unknown order"):
        await payments.take_payment(ctx, tg_id=OWNER, charge=forged)
    with pytest.raises(NotPayable, match="another user"):
        await payments.take_payment(ctx, tg_id=OWNER + 1, charge=charge_for(order))
    assert not await Payment.exists() and not await VPNKey.exists()


async def test_a_payment_while_the_server_is_down_is_applied_when_it_returns(
    ctx, clock, plan, outline_server
) -> None:
    key, order = await _expired_key_with_order(ctx, clock, plan)
    outline_server.emulator.faults.fail_next(1000, 503)
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    assert outcome.key is None
    payment = await Payment.get(id=outcome.payment.id)
    assert payment.state == PaymentState.RECEIVED and payment.attempts == 1
    await settle_billing(ctx)  # still down: kept, tried again
    assert (await Payment.get(id=payment.id)).attempts == 2

    outline_server.emulator.faults.rules.clear()
    await settle_billing(ctx)
    assert (await Payment.get(id=payment.id)).state == PaymentState.APPLIED
    fresh = await VPNKey.get(id=key.id)
    assert fresh.is_active and fresh.valid_until == clock.now() + timedelta(days=30)
    receipt = await Notice.get(kind="payment_applied")
    assert receipt.user_id == OWNER and receipt.payload["amount"] == 100


async def test_a_deleted_key_gets_a_new_key_instead_of_losing_the_payment(
    ctx, clock, plan
) -> None:
    key = await new_key(ctx, days=5)
    order = await orders.checkout(ctx, tg_id=OWNER, plan_id=plan.id, key_id=key.id, actor="t")
    await changes.delete_key(ctx, key_id=key.id, server=None, actor="t")
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    assert outcome.key is not None and outcome.key.id != key.id
    assert outcome.key.valid_until == clock.now() + timedelta(days=30)


async def test_a_recurring_renewal_extends_the_key_even_after_the_plan_is_retired(
    ctx, clock, server
) -> None:
    plan = await make_plan(recurring=True, name_en="Auto", name_ru="Авто")
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    until = clock.now() + timedelta(days=30)
    first = await payments.take_payment(
        ctx, tg_id=OWNER, charge=charge_for(order, charge_id="sub-1", recurring=True, until=until)
    )
    assert first.key is not None
    await plans.retire_plan(plan.id, actor="cli")  # retired: what was bought keeps working
    clock.advance(days=29)
    renewal = charge_for(order, charge_id="sub-2", recurring=True, until=until + timedelta(30))
    second = await payments.take_payment(ctx, tg_id=OWNER, charge=renewal)
    assert second.key is not None and second.key.id == first.key.id
    assert second.key.valid_until == until + timedelta(days=30)
    order = await Order.get(id=order.id)
    assert order.subscription_charge_id == "sub-1"
    assert order.subscription_until == until + timedelta(days=30)
    assert await VPNKey.filter(owner_id=OWNER).count() == 1


async def test_the_worker_applies_a_renewal_after_the_first_payment_it_waited_for(
    ctx, clock, server, outline_server
) -> None:
    plan = await make_plan(recurring=True)
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    outline_server.emulator.faults.fail_next(1000, 503)
    for n in (1, 2):
        charge = charge_for(order, charge_id=f"sub-{n}", recurring=True)
        await payments.take_payment(ctx, tg_id=OWNER, charge=charge)
    outline_server.emulator.faults.rules.clear()
    await settle_billing(ctx)
    (key,) = await VPNKey.filter(owner_id=OWNER, state=KeyState.LIVE)
    assert key.valid_until == clock.now() + timedelta(days=60)


@pytest.mark.usefixtures("webhooks_enabled")
async def test_an_applied_payment_queues_a_payment_succeeded_webhook(ctx, plan, server) -> None:
    order = await orders.checkout(
        ctx, tg_id=OWNER, plan_id=plan.id, server_id=server.id, actor="t"
    )
    outcome = await payments.take_payment(ctx, tg_id=OWNER, charge=charge_for(order))
    hook = await Notice.get(channel="webhook", kind="payment.succeeded")
    assert hook.payload["event"] == "payment.succeeded"
    assert hook.payload["payment"] | {"paid_at": None} == {
        "id": outcome.payment.id,
        "tg_id": OWNER,
        "order_id": order.id,
        "key_id": outcome.key.id if outcome.key else None,
        "amount": 100,
        "currency": "XTR",
        "telegram_payment_charge_id": outcome.payment.telegram_payment_charge_id,
        "is_recurring": False,
        "days": 30,
        "state": "applied",
        "paid_at": None,
    }
    assert hook.payload["key"]["key_id"] == hook.key_id
