"""Broadcast: text → preview → confirm; delivered by the worker's outbox, progress on demand."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import admin_keyboards, admin_texts
from bot.callbacks import AdminAction, AdminCB, BroadcastAction, BroadcastCB
from bot.screens import show
from bot.states import AdminInput
from domain.audit import tg_actor
from domain.notices import broadcasts


async def cb_broadcast(callback: CallbackQuery, state: FSMContext) -> None:
    """Ask for the text to send to everyone."""
    await state.set_state(AdminInput.broadcast_text)
    await state.update_data(message_id=callback.message.message_id if callback.message else None)
    text = _("Send the message for all users. Formatting is kept.")
    await show(callback, text, admin_keyboards.cancel())


async def msg_broadcast_text(message: Message, state: FSMContext) -> None:
    """Keep the text and show it exactly as users will see it, with Send and Cancel."""
    html = message.html_text
    if len(html) > broadcasts.TEXT_MAX:
        await message.answer(_("That is too long for one message; send a shorter text."))
        return
    await state.update_data(broadcast=html)
    await state.set_state(AdminInput.broadcast_confirm)
    await message.answer(_("Preview — this is what every user who has not blocked the bot gets:"))
    await message.answer(html, reply_markup=admin_keyboards.broadcast_confirm())


async def cb_send(callback: CallbackQuery, state: FSMContext) -> None:
    """Queue the broadcast in the outbox; the worker delivers it within Telegram's limits."""
    text = (await state.get_data()).get("broadcast")
    await state.clear()
    if not text:
        await show(callback, _("The draft is gone; start the broadcast again."))
        return
    broadcast_id = await broadcasts.enqueue_broadcast(text, actor=tg_actor(callback.from_user.id))
    progress = await broadcasts.broadcast_progress(broadcast_id)
    markup = admin_keyboards.broadcast_progress(broadcast_id)
    await show(callback, admin_texts.broadcast_progress(broadcast_id, progress), markup)


async def cb_cancel(callback: CallbackQuery, state: FSMContext) -> None:
    """Drop the draft."""
    await state.clear()
    await show(callback, _("Broadcast cancelled."), admin_keyboards.back_to_menu())


async def cb_progress(callback: CallbackQuery, callback_data: BroadcastCB) -> None:
    """Delivered and failed counts so far."""
    progress = await broadcasts.broadcast_progress(callback_data.broadcast_id)
    text = admin_texts.broadcast_progress(callback_data.broadcast_id, progress)
    await show(callback, text, admin_keyboards.broadcast_progress(callback_data.broadcast_id))


def create_router() -> Router:
    """The router of broadcasts."""
    router = Router(name=__name__)
    on = router.callback_query.register
    on(cb_broadcast, AdminCB.filter(F.action == AdminAction.BROADCAST))
    router.message.register(
        msg_broadcast_text, StateFilter(AdminInput.broadcast_text), F.text, ~F.text.startswith("/")
    )
    confirm = StateFilter(AdminInput.broadcast_confirm)
    on(cb_send, BroadcastCB.filter(F.action == BroadcastAction.SEND), confirm)
    on(cb_cancel, BroadcastCB.filter(F.action == BroadcastAction.CANCEL))
    on(cb_progress, BroadcastCB.filter(F.action == BroadcastAction.PROGRESS))
    return router
