"""Money for admins: revenue per day and per plan, and refunding a user's payment."""

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery
from aiogram.utils.i18n import gettext as _

from bot import admin_keyboards, money_texts
from bot.callbacks import AdminAction, AdminCB, AdminPaymentAction, AdminPaymentCB
from bot.formats import display_zone
from bot.screens import show
from bot.stars import TelegramStars
from domain.audit import tg_actor
from domain.billing import payments, refunds, revenue
from domain.context import Context


async def cb_revenue(callback: CallbackQuery, ctx: Context) -> None:
    """Stars received per day and per plan."""
    figures = await revenue.revenue(ctx.now(), display_zone())
    markup = admin_keyboards.refresh_back(AdminAction.REVENUE)
    await show(callback, money_texts.revenue(figures), markup)


async def cb_refund(callback: CallbackQuery, callback_data: AdminPaymentCB) -> None:
    """Ask before refunding."""
    payment = await payments.get_payment(callback_data.payment_id)
    markup = admin_keyboards.refund_confirm(payment.user_id, payment.id)
    await show(callback, money_texts.refund_confirm(payment), markup)


async def cb_refund_ok(
    callback: CallbackQuery, callback_data: AdminPaymentCB, ctx: Context, bot: Bot
) -> None:
    """Refund through Telegram and take the time back from the key."""
    payment = await refunds.refund_payment(
        ctx,
        payment_id=callback_data.payment_id,
        gateway=TelegramStars(bot),
        actor=tg_actor(callback.from_user.id),
    )
    text = "✅ " + _("Payment #{id} refunded.").format(id=payment.id)
    await show(callback, text, admin_keyboards.back_to_user(payment.user_id))


def create_router() -> Router:
    """The router of revenue and refunds."""
    router = Router(name=__name__)
    on = router.callback_query.register
    on(cb_revenue, AdminCB.filter(F.action == AdminAction.REVENUE))
    on(cb_refund, AdminPaymentCB.filter(F.action == AdminPaymentAction.REFUND))
    on(cb_refund_ok, AdminPaymentCB.filter(F.action == AdminPaymentAction.REFUND_OK))
    return router
