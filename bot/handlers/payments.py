"""Telegram's side of paying: the re-check before the charge (``pre_checkout_query``), the
receipt after it (``successful_payment``, renewals too), and switching auto-renewal."""

from datetime import UTC, datetime

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message, PreCheckoutQuery

from bot import shop_keyboards, shop_texts
from bot.callbacks import KeyAction, KeyCB
from bot.screens import key_screen, show
from bot.stars import TelegramStars
from domain.audit import tg_actor
from domain.billing import orders, payments, subscriptions
from domain.billing.payments import Charge
from domain.context import Context
from domain.errors import DomainError


async def on_pre_checkout(query: PreCheckoutQuery, ctx: Context) -> None:
    """Confirm the charge only while the order is still payable; otherwise say why."""
    try:
        await orders.payable_order(
            ctx,
            token=query.invoice_payload,
            tg_id=query.from_user.id,
            amount=query.total_amount,
            currency=query.currency,
        )
    except DomainError as exc:
        reason = shop_texts.billing_error(exc) or shop_texts.cannot_pay()
        await query.answer(ok=False, error_message=reason)
        return
    await query.answer(ok=True)


async def on_payment(message: Message, ctx: Context) -> None:
    """Store the charge, extend or create the key (once per charge id), send the receipt."""
    paid = message.successful_payment
    if paid is None or message.from_user is None:
        return
    until = paid.subscription_expiration_date
    charge = Charge(
        payload=paid.invoice_payload,
        amount=paid.total_amount,
        currency=paid.currency,
        charge_id=paid.telegram_payment_charge_id,
        provider_charge_id=paid.provider_payment_charge_id,
        is_recurring=bool(paid.is_recurring),
        subscription_until=datetime.fromtimestamp(until, UTC) if until else None,
    )
    outcome = await payments.take_payment(ctx, tg_id=message.from_user.id, charge=charge)
    markup = shop_keyboards.to_key(outcome.key)
    await message.answer(shop_texts.receipt(outcome, ctx.now()), reply_markup=markup)


async def cb_renewal(
    callback: CallbackQuery, callback_data: KeyCB, ctx: Context, bot: Bot
) -> None:
    """Cancel or resume the auto-renewal of the key's subscription; the card shows it."""
    tg_id = callback.from_user.id
    card = await subscriptions.set_auto_renew(
        ctx,
        tg_id=tg_id,
        key_id=callback_data.key_id,
        renew=callback_data.action == KeyAction.RENEW_ON,
        gateway=TelegramStars(bot),
        actor=tg_actor(tg_id),
    )
    await show(callback, *key_screen(card.key, ctx, card))


def create_router() -> Router:
    """The router of Telegram payments."""
    router = Router(name=__name__)
    router.pre_checkout_query.register(on_pre_checkout)
    router.message.register(on_payment, F.successful_payment)
    router.callback_query.register(
        cb_renewal, KeyCB.filter(F.action.in_({KeyAction.RENEW_OFF, KeyAction.RENEW_ON}))
    )
    return router
