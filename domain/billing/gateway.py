"""The port to Telegram Stars for what the domain starts itself (the bot implements it)."""

from typing import Protocol

from domain.errors import Conflict

CURRENCY = "XTR"
# Telegram bills a Star subscription every 30 days; no other period exists.
SUBSCRIPTION_SECONDS = 30 * 86400


class PaymentsUnavailable(Conflict):
    """Refunds and subscription changes need the bot (``BOT_TOKEN``)."""

    code = "payments_unavailable"


class StarsRefused(Conflict):
    """Telegram refused or did not answer a Stars call; nothing was changed."""

    code = "stars_refused"


class StarsGateway(Protocol):
    """Refunds a charge and switches a subscription's renewal, raising ``StarsRefused``."""

    async def refund(self, *, user_id: int, charge_id: str) -> None: ...

    async def set_renewal(self, *, user_id: int, charge_id: str, cancelled: bool) -> None: ...


def require(gateway: StarsGateway | None) -> StarsGateway:
    """The gateway, or a clear error when the bot is not configured."""
    if gateway is None:
        raise PaymentsUnavailable("Telegram Stars calls need the bot: BOT_TOKEN is not set")
    return gateway
