"""The worker's billing round: nothing paid is left waiting once a server answers again."""

from domain.billing import orders, payments, referrals, refunds
from domain.context import Context


async def settle_billing(ctx: Context) -> None:
    """Apply waiting payments, finish refunds, pay out referral bonuses, expire old orders."""
    await payments.apply_received(ctx)
    await refunds.finish_refunds(ctx)
    await referrals.apply_bonuses(ctx)
    await orders.expire_orders(ctx.now())
