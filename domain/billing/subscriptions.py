"""Star subscriptions of recurring plans: which key one renews, and switching renewal."""

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from db.models import Order, VPNKey
from domain import audit
from domain.billing.gateway import StarsGateway, require
from domain.context import Context
from domain.errors import NotFound
from domain.keys import issuing, user_keys


@dataclass(frozen=True, slots=True)
class KeyCard:
    """A user's key and the subscription that renews it, if any."""

    key: VPNKey
    renewal: Order | None = None

    @property
    def renews(self) -> bool | None:
        """Whether Telegram charges the next period (not cancelled); ``None``: no subscription."""
        if self.renewal is None:
            return None
        return self.renewal.renewal_cancelled_at is None


async def key_card(ctx: Context, *, tg_id: int, key_id: int) -> KeyCard:
    """One of the user's keys with its running subscription (ownership checked)."""
    key = await user_keys.user_key(tg_id, key_id)
    renewal = (
        await Order.filter(
            key_id__in=await issuing.key_chain(key),  # it renews the key a refresh replaced too
            subscription_charge_id__isnull=False,
            subscription_until__gt=ctx.now(),
        )
        .order_by("-subscription_until")
        .first()
    )
    return KeyCard(key=key, renewal=renewal)


async def set_auto_renew(
    ctx: Context,
    *,
    tg_id: int,
    key_id: int,
    renew: bool,
    gateway: StarsGateway | None,
    actor: str,
) -> KeyCard:
    """Cancel (or resume) the renewal of the subscription on the user's key."""
    stars = require(gateway)
    card = await key_card(ctx, tg_id=tg_id, key_id=key_id)
    order = card.renewal
    if order is None or order.subscription_charge_id is None:
        raise NotFound(f"key {key_id} has no running subscription", key=key_id)
    await stars.set_renewal(
        user_id=tg_id, charge_id=order.subscription_charge_id, cancelled=not renew
    )
    async with in_transaction():
        order.renewal_cancelled_at = None if renew else ctx.now()
        await order.save(update_fields=["renewal_cancelled_at", "updated_at"])
        action = "subscription.resumed" if renew else "subscription.cancelled"
        await audit.record(actor, action, key=card.key, details={"order": order.id})
    return card
