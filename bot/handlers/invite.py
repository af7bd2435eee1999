"""Invite friends: the user's ``/start ref_<code>`` link and how many joined with it."""

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import keyboards, shop_texts
from bot.callbacks import MenuAction, MenuCB
from bot.screens import show
from domain.billing import referrals
from domain.context import Context


async def _invite(event: Message | CallbackQuery, ctx: Context, bot: Bot) -> None:
    info = await referrals.referral_info(ctx, event.from_user.id if event.from_user else 0)
    link = f"https://t.me/{(await bot.me()).username}?start={info.payload}"
    await show(event, shop_texts.invite(info, link), keyboards.back_to_menu())


async def cmd_invite(message: Message, ctx: Context, bot: Bot) -> None:
    """/invite: the referral link."""
    await _invite(message, ctx, bot)


async def cb_invite(callback: CallbackQuery, ctx: Context, bot: Bot) -> None:
    """ "Invite friends": the referral link, edited in place."""
    await _invite(callback, ctx, bot)


def create_router() -> Router:
    """The router of referrals."""
    router = Router(name=__name__)
    router.message.register(cmd_invite, Command("invite"))
    router.callback_query.register(cb_invite, MenuCB.filter(F.action == MenuAction.INVITE))
    return router
