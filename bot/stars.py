"""Telegram Stars calls the domain starts (refunds, renewal switches), on the bot's client."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest

from bot.client import create_bot
from bot.errors import redact
from domain.billing.gateway import StarsGateway, StarsRefused
from domain.settings import Settings

# Telegram's answer when the charge was refunded before (a retried refund).
ALREADY_REFUNDED = "CHARGE_ALREADY_REFUNDED"


class TelegramStars:
    """The ``StarsGateway`` of the domain, over ``refundStarPayment`` and
    ``editUserStarSubscription``."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def refund(self, *, user_id: int, charge_id: str) -> None:
        """Give the Stars of one charge back; a charge refunded already counts as done."""
        try:
            await self.bot.refund_star_payment(user_id, charge_id)
        except TelegramBadRequest as exc:
            if ALREADY_REFUNDED not in exc.message:
                raise StarsRefused(f"Telegram refused the refund: {redact(exc.message)}") from None
        except TelegramAPIError as exc:
            raise StarsRefused(f"Telegram did not refund: {redact(exc.message)}") from None

    async def set_renewal(self, *, user_id: int, charge_id: str, cancelled: bool) -> None:
        """Cancel (or allow again) the next renewals of a Star subscription."""
        try:
            await self.bot.edit_user_star_subscription(user_id, charge_id, is_canceled=cancelled)
        except TelegramAPIError as exc:
            raise StarsRefused(f"Telegram refused: {redact(exc.message)}") from None


@asynccontextmanager
async def open_stars(settings: Settings) -> AsyncIterator[StarsGateway | None]:
    """Stars calls on a bot client of their own, for the CLI (``None`` without ``BOT_TOKEN``)."""
    if settings.bot_token is None:
        yield None
        return
    bot = create_bot(settings)
    try:
        yield TelegramStars(bot)
    finally:
        await bot.session.close()
