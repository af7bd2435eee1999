"""Selling against the real Outline server: a paid key carries traffic with the plan's limit,
a cut key reopens when its extension is paid, and a refund that leaves no time cuts it."""

from datetime import timedelta

from db.models import InactiveReason, VPNKey, VPNServer
from domain import audit
from domain.accounts import users
from domain.billing import orders, payments, refunds
from domain.context import Context
from domain.keys import remote
from domain.keys.enforcement import CURRENT, enforce_many
from domain.settings import GIB
from tests.billing_fixtures import FakeStars, charge_for, make_plan
from tests.integration.conftest import RealOutline

BUYER = 601


async def _limit(ctx: Context, key: VPNKey) -> int | None:
    server = await VPNServer.get(id=key.server_id)
    return (await remote.backend(ctx, server).get_key(key.remote_id)).limit


async def test_a_paid_key_passes_traffic_reopens_when_extended_and_a_refund_cuts_it(
    real_server: VPNServer, ctx: Context, real_outline: RealOutline
) -> None:
    await users.upsert_user(users.UserProfile(id=BUYER), actor=audit.CLI)
    plan = await make_plan(traffic_limit=5 * GIB, servers=("real",))
    order = await orders.checkout(
        ctx, tg_id=BUYER, plan_id=plan.id, server_id=real_server.id, actor="t"
    )
    first = await payments.take_payment(ctx, tg_id=BUYER, charge=charge_for(order))
    key = first.key
    assert key is not None and await _limit(ctx, key) == 5 * GIB
    assert await real_outline.passes(key.access_url or "")

    # Its time runs out: the sweep cuts it on the server.
    await VPNKey.filter(id=key.id).update(valid_until=ctx.now() - timedelta(minutes=1))
    assert await enforce_many(ctx, {key.id: CURRENT}) == {key.id: "key.expired"}
    assert await _limit(ctx, key) == 0
    assert await real_outline.refuses(key.access_url or "")

    # Paying the extension reopens it with the plan's limit.
    order = await orders.checkout(ctx, tg_id=BUYER, plan_id=plan.id, key_id=key.id, actor="t")
    second = await payments.take_payment(ctx, tg_id=BUYER, charge=charge_for(order))
    assert second.key is not None and second.key.is_active
    assert await _limit(ctx, key) == 5 * GIB
    assert await real_outline.passes(key.access_url or "")

    # Refunding that extension takes its 30 days back: no time is left, so the key is cut.
    await refunds.refund_payment(
        ctx, payment_id=second.payment.id, gateway=FakeStars(), actor=audit.CLI
    )
    cut = await VPNKey.get(id=key.id)
    assert (cut.is_active, cut.inactive_reason) == (False, InactiveReason.EXPIRED)
    assert await _limit(ctx, key) == 0
    assert await real_outline.refuses(key.access_url or "")
