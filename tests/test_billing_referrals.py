"""Referrals: each user's deep link; the referrer gets bonus days once per referred user, on
that user's first payment, never for themselves; revenue per day and per plan."""

from datetime import timedelta

import pytest

from db.models import Notice, ReferralBonus, User, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.billing import orders, payments, referrals, refunds, revenue
from domain.billing.upkeep import settle_billing
from tests.billing_fixtures import FakeStars, charge_for, make_plan
from tests.worker_fixtures import OWNER, new_key

FRIEND = 300


async def _pay(ctx, tg_id: int, plan, server) -> None:
    order = await orders.checkout(
        ctx, tg_id=tg_id, plan_id=plan.id, server_id=server.id, actor="t"
    )
    await payments.take_payment(ctx, tg_id=tg_id, charge=charge_for(order))


async def _join(tg_id: int, payload: str | None) -> User:
    return await users.upsert_user(UserProfile(id=tg_id), actor="t", start_payload=payload)


async def test_a_referred_users_first_payment_gives_the_referrer_bonus_days_once(
    ctx, clock, owner, plan, server
) -> None:
    key = await new_key(ctx, days=10)
    info = await referrals.referral_info(ctx, OWNER)
    assert info.payload.startswith("ref_") and (info.joined, info.bonus_days) == (0, 7)
    assert (await referrals.referral_info(ctx, OWNER)).payload == info.payload  # stable
    friend = await _join(FRIEND, info.payload)
    assert friend.referred_by_id == OWNER
    await _pay(ctx, FRIEND, plan, server)
    assert (await VPNKey.get(id=key.id)).valid_until == clock.now() + timedelta(days=17)
    await _pay(ctx, FRIEND, plan, server)  # a second payment earns nothing more
    await settle_billing(ctx)
    assert (await VPNKey.get(id=key.id)).valid_until == clock.now() + timedelta(days=17)
    after = await referrals.referral_info(ctx, OWNER)
    assert (after.joined, after.rewarded) == (1, 1)
    notice = await Notice.get(kind="referral_bonus")
    assert notice.user_id == OWNER and notice.payload["days"] == 7


async def test_nobody_refers_themselves_or_an_existing_user(ctx, owner, plan, server) -> None:
    info = await referrals.referral_info(ctx, OWNER)
    again = await _join(OWNER, info.payload)  # the owner opens their own link
    assert again.referred_by_id is None
    await _join(FRIEND, None)
    late = await _join(FRIEND, info.payload)  # already a user: not referred any more
    assert late.referred_by_id is None
    await _pay(ctx, FRIEND, plan, server)
    assert not await ReferralBonus.exists()


async def test_a_referrer_without_a_key_gets_the_bonus_on_their_next_key(
    ctx, clock, owner, plan, server
) -> None:
    info = await referrals.referral_info(ctx, OWNER)
    await _join(FRIEND, info.payload)
    await _pay(ctx, FRIEND, plan, server)
    assert (await ReferralBonus.get()).applied_at is None
    key = await new_key(ctx, days=1)
    await settle_billing(ctx)
    assert (await VPNKey.get(id=key.id)).valid_until == clock.now() + timedelta(days=8)


async def test_revenue_counts_stars_per_day_and_per_plan_without_refunds(
    ctx, clock, owner, plan, server
) -> None:
    cheap = await make_plan(name_en="Week", name_ru="Неделя", days=7, price_stars=30)
    await _pay(ctx, OWNER, plan, server)
    clock.advance(days=1)
    await _pay(ctx, OWNER, cheap, server)
    await _pay(ctx, OWNER, cheap, server)
    last = await payments.user_payments(OWNER)
    await refunds.refund_payment(ctx, payment_id=last[0].id, gateway=FakeStars(), actor="cli")
    figures = await revenue.revenue(clock.now())
    assert [(t.label, t.stars, t.payments) for t in figures.days] == [
        (clock.now().date(), 30, 1),
        ((clock.now() - timedelta(days=1)).date(), 100, 1),
    ]
    assert [(t.label.name_en, t.stars) for t in figures.plans] == [("Monthly", 100), ("Week", 30)]
    assert (figures.total, figures.refunded) == (130, 30)


@pytest.mark.parametrize("days", [0])
async def test_no_bonus_when_the_operator_turned_it_off(ctx, owner, plan, server, days) -> None:
    ctx.referral_bonus_days = days
    info = await referrals.referral_info(ctx, OWNER)
    await _join(FRIEND, info.payload)
    await _pay(ctx, FRIEND, plan, server)
    assert not await ReferralBonus.exists()
