"""/admin: the panel, statistics and server health."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import admin_keyboards, admin_texts
from bot.callbacks import AdminAction, AdminCB
from bot.screens import show
from domain.context import Context
from domain.servers import stats


async def cmd_admin(message: Message, state: FSMContext) -> None:
    """/admin: the panel."""
    await state.clear()
    await show(message, admin_texts.menu(), admin_keyboards.menu())


async def cb_menu(callback: CallbackQuery, state: FSMContext) -> None:
    """Back to the panel (also cancels any open question)."""
    await state.clear()
    await show(callback, admin_texts.menu(), admin_keyboards.menu())


async def cb_stats(callback: CallbackQuery) -> None:
    """Users, live keys per server and traffic."""
    figures = await stats.collect_stats()
    markup = admin_keyboards.refresh_back(AdminAction.STATS)
    await show(callback, admin_texts.stats(figures), markup)


async def cb_health(callback: CallbackQuery, ctx: Context) -> None:
    """Every server checked now."""
    report = await stats.servers_health(ctx)
    markup = admin_keyboards.refresh_back(AdminAction.HEALTH)
    await show(callback, admin_texts.health(report), markup)


def create_router() -> Router:
    """The router of the panel itself."""
    router = Router(name=__name__)
    router.message.register(cmd_admin, Command("admin"))
    menu = F.action.in_({AdminAction.MENU, AdminAction.CANCEL})
    router.callback_query.register(cb_menu, AdminCB.filter(menu))
    router.callback_query.register(cb_stats, AdminCB.filter(F.action == AdminAction.STATS))
    router.callback_query.register(cb_health, AdminCB.filter(F.action == AdminAction.HEALTH))
    return router
