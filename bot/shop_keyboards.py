"""Inline keyboards of buying: plans, targets, servers, the summary, subscription links."""

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import BuyAction, BuyCB, KeyAction, KeyCB, MenuAction, MenuCB
from bot.shop_texts import opened, plan_button, stars
from bot.texts import server_button
from db.models import Plan, VPNKey, VPNServer
from domain.billing.orders import Offers, Quote

A = BuyAction


def _back(builder: InlineKeyboardBuilder, data: MenuCB | KeyCB | BuyCB) -> InlineKeyboardMarkup:
    builder.adjust(1)
    builder.row(InlineKeyboardButton(text="« " + _("Back"), callback_data=data.pack()))
    return builder.as_markup()


def plans(offers: Offers) -> InlineKeyboardMarkup:
    """One button per plan; Back to the key (when extending one) or to the menu."""
    builder = InlineKeyboardBuilder()
    key_id = offers.key.id if offers.key is not None else 0
    # Plans that cannot extend the key buy a new key: their buttons carry no key.
    for plan, for_key in [(p, key_id) for p in offers.plans] + [(p, 0) for p in offers.new_key]:
        data = BuyCB(action=A.PLAN, plan_id=plan.id, key_id=for_key)
        builder.button(text=plan_button(plan), callback_data=data)
    if offers.key is not None:
        return _back(builder, KeyCB(action=KeyAction.SHOW, key_id=key_id))
    return _back(builder, MenuCB(action=MenuAction.HOME))


def targets(plan: Plan, keys: list[VPNKey]) -> InlineKeyboardMarkup:
    """Extend one of these keys, or a new key."""
    builder = InlineKeyboardBuilder()
    for key in keys:
        data = BuyCB(action=A.GO, plan_id=plan.id, key_id=key.id)
        builder.button(text="🔄 " + _("Extend “{name}”").format(name=key.name), callback_data=data)
    builder.button(text="➕ " + _("New key"), callback_data=BuyCB(action=A.NEW, plan_id=plan.id))
    return _back(builder, BuyCB(action=A.PLANS))


def servers(plan: Plan, choices: list[VPNServer]) -> InlineKeyboardMarkup:
    """One button per server a new key can go to."""
    builder = InlineKeyboardBuilder()
    for server in choices:
        data = BuyCB(action=A.GO, plan_id=plan.id, server_id=server.id)
        builder.button(text=server_button(server), callback_data=data)
    return _back(builder, BuyCB(action=A.PLANS))


def summary(quote: Quote) -> InlineKeyboardMarkup:
    """Pay · Back to the plans."""
    builder = InlineKeyboardBuilder()
    key_id = quote.key.id if quote.key is not None else 0
    server_id = quote.server.id if quote.server is not None else 0
    pay = BuyCB(action=A.PAY, plan_id=quote.plan.id, key_id=key_id, server_id=server_id)
    builder.button(
        text="💳 " + _("Pay {price}").format(price=stars(quote.plan.price_stars)),
        callback_data=pay,
    )
    return _back(builder, BuyCB(action=A.PLANS, key_id=key_id))


def subscribe(link: str, price: int) -> InlineKeyboardMarkup:
    """The subscription link of a recurring plan."""
    text = "💳 " + _("Subscribe: {price} / 30 days").format(price=stars(price))
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=text, url=link)]])


def to_key(key: VPNKey | None) -> InlineKeyboardMarkup:
    """A button to the key a payment went to (My keys while it waits)."""
    if key is None:
        data, text = MenuCB(action=MenuAction.KEYS), "🔑 " + _("My keys")
    else:
        data, text = KeyCB(action=KeyAction.SHOW, key_id=key.id), opened(key)
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data.pack())]]
    )
