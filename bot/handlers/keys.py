"""My keys: the list, a key's card with its QR code, refresh (confirmed) and rename (FSM)."""

from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot import keyboards, texts
from bot.callbacks import KeyAction, KeyCB, MenuAction, MenuCB
from bot.middlewares import THROTTLE_FLAG
from bot.screens import key_screen, send_qr, show
from bot.states import RenameKey
from db.models import User
from domain.audit import tg_actor
from domain.billing import subscriptions
from domain.context import Context
from domain.errors import DomainError
from domain.keys import issuing, user_keys
from domain.links.signing import dynamic_url


async def _show_keys(event: Message | CallbackQuery, ctx: Context, db_user: User | None) -> None:
    items = await issuing.user_keys(event.from_user.id if event.from_user else 0)
    show_trial = not items and (db_user is None or not db_user.has_demo)
    markup = keyboards.keys_list(items, show_trial=show_trial)
    await show(event, texts.keys_list(items, ctx.now()), markup)


async def cmd_keys(message: Message, ctx: Context, db_user: User | None) -> None:
    """/keys: every live key with its status."""
    await _show_keys(message, ctx, db_user)


async def cb_keys(callback: CallbackQuery, ctx: Context, db_user: User | None) -> None:
    """ "My keys": the list, edited in place."""
    await _show_keys(callback, ctx, db_user)


async def cb_show(
    callback: CallbackQuery, callback_data: KeyCB, state: FSMContext, ctx: Context
) -> None:
    """A key's card (also where Cancel of a rename or refresh leads)."""
    await state.clear()
    card = await subscriptions.key_card(
        ctx, tg_id=callback.from_user.id, key_id=callback_data.key_id
    )
    await show(callback, *key_screen(card.key, ctx, card))


async def cb_qr(callback: CallbackQuery, callback_data: KeyCB, ctx: Context) -> None:
    """Send the key's QR code as a picture."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id)
    await send_qr(callback, key, dynamic_url(ctx.links, key))
    await callback.answer()


async def cb_static(callback: CallbackQuery, callback_data: KeyCB) -> None:
    """The static ss:// key, for apps that do not take dynamic links."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id)
    await show(callback, texts.static_key(key), keyboards.static_key(key.id))


async def cb_refresh(callback: CallbackQuery, callback_data: KeyCB) -> None:
    """Ask before replacing the key."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id)
    await show(callback, texts.refresh_confirm(key), keyboards.refresh_confirm(key.id))


async def cb_refresh_ok(callback: CallbackQuery, callback_data: KeyCB, ctx: Context) -> None:
    """Replace the key and show the new one in place (a failure puts the card back)."""
    tg_id = callback.from_user.id
    try:
        key = await user_keys.refresh_user_key(
            ctx, tg_id=tg_id, key_id=callback_data.key_id, actor=tg_actor(tg_id)
        )
    except DomainError:
        await _restore_card(callback, callback_data.key_id, ctx)
        raise  # the error handler says what went wrong
    text = "✅ " + _("Here is your new key; the old one no longer works.") + "\n\n"
    card, markup = key_screen(key, ctx)
    await show(callback, text + card, markup)


async def _restore_card(callback: CallbackQuery, key_id: int, ctx: Context) -> None:
    """Put the key's card back on the message that asked a question about it."""
    with suppress(DomainError, TelegramBadRequest):
        key = await user_keys.user_key(callback.from_user.id, key_id)
        if isinstance(callback.message, Message):
            card = texts.key_card(key, ctx.now())
            await callback.message.edit_text(card, reply_markup=keyboards.key_card(key.id))


async def cb_rename(callback: CallbackQuery, callback_data: KeyCB, state: FSMContext) -> None:
    """Ask for the new name and wait for it."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id)
    message_id = callback.message.message_id if callback.message else None
    await state.set_state(RenameKey.name)
    await state.update_data(key_id=key.id, message_id=message_id)
    await show(callback, texts.rename_prompt(key), keyboards.rename_cancel(key.id))


async def msg_rename(message: Message, state: FSMContext, ctx: Context, bot: Bot) -> None:
    """Rename the key (an invalid name is refused and the question stays open)."""
    data, tg_id = await state.get_data(), message.chat.id
    key = await user_keys.rename_user_key(
        ctx, tg_id=tg_id, key_id=data["key_id"], name=message.text or "", actor=tg_actor(tg_id)
    )
    await state.clear()
    if data.get("message_id"):
        card, markup = key_screen(key, ctx)
        await bot.edit_message_text(
            card, chat_id=tg_id, message_id=data["message_id"], reply_markup=markup
        )
    await message.answer("✅ " + _("Renamed. The card above is up to date."))


async def cmd_cancel(message: Message, state: FSMContext, ctx: Context, bot: Bot) -> None:
    """/cancel: leave whatever question is open; a rename's question becomes the card again."""
    data, tg_id = await state.get_data(), message.chat.id
    renaming = await state.get_state() == RenameKey.name
    await state.clear()
    if renaming and data.get("message_id"):
        with suppress(DomainError, TelegramBadRequest):
            key = await user_keys.user_key(tg_id, data["key_id"])
            card, markup = texts.key_card(key, ctx.now()), keyboards.key_card(key.id)
            await bot.edit_message_text(
                card, chat_id=tg_id, message_id=data["message_id"], reply_markup=markup
            )
    await message.answer(_("Cancelled."))


def create_router() -> Router:
    """The router of the user's keys."""
    router = Router(name=__name__)
    router.message.register(cmd_cancel, Command("cancel"))
    router.message.register(cmd_keys, Command("keys"))
    router.message.register(
        msg_rename, StateFilter(RenameKey.name), F.text, ~F.text.startswith("/")
    )
    on_key = router.callback_query.register
    on_key(cb_keys, MenuCB.filter(F.action == MenuAction.KEYS))
    on_key(cb_show, KeyCB.filter(F.action == KeyAction.SHOW))
    on_key(cb_qr, KeyCB.filter(F.action == KeyAction.QR))
    on_key(cb_static, KeyCB.filter(F.action == KeyAction.STATIC))
    on_key(cb_refresh, KeyCB.filter(F.action == KeyAction.REFRESH))
    on_key(
        cb_refresh_ok,
        KeyCB.filter(F.action == KeyAction.REFRESH_OK),
        flags={THROTTLE_FLAG: "refresh"},
    )
    on_key(cb_rename, KeyCB.filter(F.action == KeyAction.RENAME))
    return router
