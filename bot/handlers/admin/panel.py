"""/admin: the panel, statistics and server health; /cancel of an admin's question."""

from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import admin_keyboards, admin_texts
from bot.callbacks import AdminAction, AdminCB, AdminServerCB, ServerAction
from bot.screens import show
from bot.states import AdminInput
from domain.audit import tg_actor
from domain.context import Context
from domain.errors import DomainError
from domain.keys import user_keys
from domain.servers import drain, stats


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
    await show(callback, admin_texts.health(report), admin_keyboards.health(report))


async def cb_drain(callback: CallbackQuery, callback_data: AdminServerCB) -> None:
    """Ask before draining a server."""
    plan = await drain.plan_drain(callback_data.server_id)
    text = admin_texts.drain_confirm(plan.server, plan.live_keys)
    await show(callback, text, admin_keyboards.drain_confirm(plan.server_id))


async def cb_drain_ok(callback: CallbackQuery, callback_data: AdminServerCB) -> None:
    """Disable the server and have the worker move its keys."""
    server = await drain.request_drain(
        callback_data.server_id, actor=tg_actor(callback.from_user.id)
    )
    markup = admin_keyboards.refresh_back(AdminAction.HEALTH)
    await show(callback, admin_texts.drain_started(server.name), markup)


async def cmd_cancel(message: Message, state: FSMContext, ctx: Context, bot: Bot) -> None:
    """/cancel of an admin's question: the screen that asked it comes back."""
    data, question = await state.get_data(), await state.get_state()
    await state.clear()
    message_id, chat_id = data.get("message_id"), message.chat.id
    with suppress(DomainError, TelegramBadRequest):
        if message_id and question == AdminInput.traffic_limit:
            key = await user_keys.user_key(chat_id, data["key_id"], any_owner=True)
            card, markup = admin_texts.key_card(key, ctx.now()), admin_keyboards.key_card(key)
            await bot.edit_message_text(
                card, chat_id=chat_id, message_id=message_id, reply_markup=markup
            )
        elif message_id:
            await bot.edit_message_text(
                admin_texts.menu(),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=admin_keyboards.menu(),
            )
    await message.answer(_("Cancelled."))


def create_router() -> Router:
    """The router of the panel itself."""
    router = Router(name=__name__)
    router.message.register(cmd_admin, Command("admin"))
    router.message.register(cmd_cancel, Command("cancel"), StateFilter(AdminInput))
    menu = F.action.in_({AdminAction.MENU, AdminAction.CANCEL})
    router.callback_query.register(cb_menu, AdminCB.filter(menu))
    router.callback_query.register(cb_stats, AdminCB.filter(F.action == AdminAction.STATS))
    router.callback_query.register(cb_health, AdminCB.filter(F.action == AdminAction.HEALTH))
    on_server = AdminServerCB.filter
    router.callback_query.register(cb_drain, on_server(F.action == ServerAction.DRAIN))
    router.callback_query.register(cb_drain_ok, on_server(F.action == ServerAction.DRAIN_OK))
    return router
