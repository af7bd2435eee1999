"""Buying and extending: /buy → plan → key to extend or server of a new key → summary
(a promo code may be typed) → invoice (``sendInvoice`` in Stars, or a subscription link)."""

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, LabeledPrice, Message

from bot import shop_keyboards, shop_texts
from bot.callbacks import BuyAction, BuyCB, MenuAction, MenuCB
from bot.middlewares import THROTTLE_FLAG
from bot.screens import show
from bot.states import Checkout
from db.models import Order
from domain.audit import tg_actor
from domain.billing import orders
from domain.billing.gateway import CURRENCY, SUBSCRIPTION_SECONDS
from domain.billing.orders import Quote
from domain.billing.plans import plan_name
from domain.context import Context

A = BuyAction


async def _plans(event: Message | CallbackQuery, key_id: int | None) -> None:
    offers = await orders.offers(event.from_user.id if event.from_user else 0, key_id)
    await show(event, shop_texts.plans(offers), shop_keyboards.plans(offers))


async def cmd_buy(message: Message, state: FSMContext) -> None:
    """/buy: the plans on sale."""
    await state.clear()
    await _plans(message, None)


async def cb_buy(callback: CallbackQuery, state: FSMContext) -> None:
    """ "Buy / extend" in the main menu."""
    await state.clear()
    await _plans(callback, None)


async def cb_plans(callback: CallbackQuery, callback_data: BuyCB, state: FSMContext) -> None:
    """ "Extend" on a key card or a notice (or Back): the plans for that key, or all."""
    await state.clear()
    await _plans(callback, callback_data.key_id or None)


async def _summary(callback: CallbackQuery, quote: Quote, state: FSMContext, ctx: Context) -> None:
    """The summary; a promo code typed now goes into the order."""
    await state.set_state(Checkout.promo)
    await state.update_data(
        plan_id=quote.plan.id,
        key_id=quote.key.id if quote.key else 0,
        server_id=quote.server.id if quote.server else 0,
    )
    await show(callback, shop_texts.summary(quote, ctx.now()), shop_keyboards.summary(quote))


async def _new_key(
    callback: CallbackQuery, found: orders.Targets, state: FSMContext, ctx: Context
) -> None:
    """A new key: the only server at once, else the choice of servers."""
    if len(found.servers) == 1:
        await _summary(callback, Quote(plan=found.plan, server=found.servers[0]), state, ctx)
    elif not found.servers:
        await show(callback, shop_texts.no_server(), shop_keyboards.servers(found.plan, []))
    else:
        markup = shop_keyboards.servers(found.plan, found.servers)
        await show(callback, shop_texts.servers(found.plan), markup)


async def cb_plan(
    callback: CallbackQuery, callback_data: BuyCB, state: FSMContext, ctx: Context
) -> None:
    """A plan chosen: straight to the summary for a given key, else extend or a new key."""
    if callback_data.key_id:
        await cb_go(callback, callback_data, state, ctx)
        return
    found = await orders.targets(ctx, callback.from_user.id, callback_data.plan_id)
    if found.keys:
        markup = shop_keyboards.targets(found.plan, found.keys)
        await show(callback, shop_texts.targets(found.plan), markup)
    else:
        await _new_key(callback, found, state, ctx)


async def cb_new(
    callback: CallbackQuery, callback_data: BuyCB, state: FSMContext, ctx: Context
) -> None:
    """ "New key": the server of the new key."""
    found = await orders.targets(ctx, callback.from_user.id, callback_data.plan_id, new_key=True)
    await _new_key(callback, found, state, ctx)


async def cb_go(
    callback: CallbackQuery, callback_data: BuyCB, state: FSMContext, ctx: Context
) -> None:
    """The key or server chosen: the summary."""
    quote = await orders.quote(
        callback.from_user.id,
        callback_data.plan_id,
        key_id=callback_data.key_id or None,
        server_id=callback_data.server_id or None,
    )
    await _summary(callback, quote, state, ctx)


async def send_invoice(bot: Bot, chat_id: int, order: Order) -> None:
    """The invoice of a stored order: one price line in Stars, or a 30-day subscription link."""
    title = plan_name(order.plan, shop_texts.language())
    description = shop_texts.invoice_description(order)
    prices = [LabeledPrice(label=title, amount=order.price)]
    if order.promo_id is not None:
        await bot.send_message(chat_id, shop_texts.promo_applied(order))
    if not order.plan.recurring:
        await bot.send_invoice(
            chat_id, title, description, order.token, CURRENCY, prices, provider_token=""
        )
        return
    link = await bot.create_invoice_link(
        title,
        description,
        order.token,
        CURRENCY,
        prices,
        provider_token="",
        subscription_period=SUBSCRIPTION_SECONDS,
    )
    markup = shop_keyboards.subscribe(link, order.price)
    await bot.send_message(chat_id, shop_texts.subscription_offer(order), reply_markup=markup)


async def _checkout(tg_id: int, data: dict[str, Any], ctx: Context, promo: str | None) -> Order:
    return await orders.checkout(
        ctx,
        tg_id=tg_id,
        plan_id=int(data["plan_id"]),
        key_id=int(data.get("key_id") or 0) or None,
        server_id=int(data.get("server_id") or 0) or None,
        promo_code=promo,
        actor=tg_actor(tg_id),
    )


async def cb_pay(
    callback: CallbackQuery, callback_data: BuyCB, state: FSMContext, ctx: Context, bot: Bot
) -> None:
    """Pay without a promo code: store the order, send its invoice."""
    await state.clear()
    tg_id = callback.from_user.id
    order = await _checkout(tg_id, callback_data.model_dump(), ctx, None)
    await send_invoice(bot, tg_id, order)
    await callback.answer()


async def msg_promo(message: Message, state: FSMContext, ctx: Context, bot: Bot) -> None:
    """A promo code typed at the summary: the order with it, or why it is refused."""
    tg_id = message.chat.id
    order = await _checkout(tg_id, await state.get_data(), ctx, message.text or "")
    await state.clear()
    await send_invoice(bot, tg_id, order)


def create_router() -> Router:
    """The router of buying."""
    router = Router(name=__name__)
    router.message.register(cmd_buy, Command("buy"))
    router.message.register(
        msg_promo,
        StateFilter(Checkout.promo),
        F.text,
        ~F.text.startswith("/"),
        flags={THROTTLE_FLAG: "pay"},
    )
    on = router.callback_query.register
    on(cb_buy, MenuCB.filter(F.action == MenuAction.BUY))
    on(cb_plans, BuyCB.filter(F.action == A.PLANS))
    on(cb_plan, BuyCB.filter(F.action == A.PLAN))
    on(cb_new, BuyCB.filter(F.action == A.NEW))
    on(cb_go, BuyCB.filter(F.action == A.GO))
    on(cb_pay, BuyCB.filter(F.action == A.PAY), flags={THROTTLE_FLAG: "pay"})
    return router
