"""Admin actions on any key: extend, limit, enable/disable, refresh, delete."""

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import admin_keyboards, admin_texts
from bot.callbacks import AdminKeyAction, AdminKeyCB, AdminMoveCB
from bot.middlewares import THROTTLE_FLAG
from bot.screens import show
from bot.states import AdminInput
from bot.texts import esc
from db.models import VPNKey
from domain.audit import tg_actor
from domain.context import Context
from domain.keys import changes, moves, user_keys
from domain.links.signing import dynamic_url
from domain.servers import registry
from domain.settings import GIB

A = AdminKeyAction
NO_LIMIT = {"-", "—", "∞", "none", "no", "нет"}


async def _card(callback: CallbackQuery, key: VPNKey, ctx: Context, note: str = "") -> None:
    card = admin_texts.key_card(key, ctx.now(), dynamic_url(ctx.links, key))
    text = (note + "\n\n" if note else "") + card
    await show(callback, text, admin_keyboards.key_card(key))


async def cb_key(
    callback: CallbackQuery, callback_data: AdminKeyCB, state: FSMContext, ctx: Context
) -> None:
    """Any key's card (also where Cancel leads)."""
    await state.clear()
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id, any_owner=True)
    await _card(callback, key, ctx)


async def cb_extend(callback: CallbackQuery, callback_data: AdminKeyCB, ctx: Context) -> None:
    """Add 7 or 30 days to the key's validity."""
    days = 7 if callback_data.action == A.EXTEND_7 else 30
    key = await changes.extend_key(
        ctx,
        key_id=callback_data.key_id,
        server=None,
        days=days,
        actor=tg_actor(callback.from_user.id),
    )
    note = ngettext("Extended by {n} day.", "Extended by {n} days.", days).format(n=days)
    await _card(callback, key, ctx, "✅ " + note)


async def cb_set_active(callback: CallbackQuery, callback_data: AdminKeyCB, ctx: Context) -> None:
    """Disable the key by hand, or lift a manual disable."""
    active = callback_data.action == A.ENABLE
    key = await changes.set_active(
        ctx,
        key_id=callback_data.key_id,
        server=None,
        is_active=active,
        actor=tg_actor(callback.from_user.id),
    )
    note = _("Enabled.") if active else _("Disabled.")
    await _card(callback, key, ctx, "✅ " + note)


async def cb_refresh(callback: CallbackQuery, callback_data: AdminKeyCB, ctx: Context) -> None:
    """Replace the key by a new one for its owner."""
    admin = callback.from_user.id
    key = await user_keys.refresh_user_key(
        ctx, tg_id=admin, key_id=callback_data.key_id, actor=tg_actor(admin), any_owner=True
    )
    await _card(callback, key, ctx, "✅ " + _("Refreshed: this is the new key."))


async def cb_delete(callback: CallbackQuery, callback_data: AdminKeyCB) -> None:
    """Ask before deleting."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id, any_owner=True)
    text = _("Delete key #{id} “{name}”? This cannot be undone.").format(
        id=key.id, name=esc(key.name)
    )
    await show(callback, text, admin_keyboards.delete_confirm(key))


async def cb_delete_ok(callback: CallbackQuery, callback_data: AdminKeyCB, ctx: Context) -> None:
    """Delete the key on its server and here."""
    key = await changes.delete_key(
        ctx, key_id=callback_data.key_id, server=None, actor=tg_actor(callback.from_user.id)
    )
    text = "✅ " + _("Key #{id} deleted.").format(id=key.id)
    await show(callback, text, admin_keyboards.back_to_user(key.owner_id))


async def cb_limit(callback: CallbackQuery, callback_data: AdminKeyCB, state: FSMContext) -> None:
    """Ask for the new traffic limit."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id, any_owner=True)
    message_id = callback.message.message_id if callback.message else None
    await state.set_state(AdminInput.traffic_limit)
    await state.update_data(key_id=key.id, message_id=message_id)
    await show(callback, admin_texts.limit_prompt(key), admin_keyboards.key_cancel(key.id))


async def cb_move(callback: CallbackQuery, callback_data: AdminKeyCB) -> None:
    """Ask where the key should go."""
    key = await user_keys.user_key(callback.from_user.id, callback_data.key_id, any_owner=True)
    servers = await registry.list_servers(active_only=True)
    text = _("Move key #{id} “{name}” from {server} to:").format(
        id=key.id, name=esc(key.name), server=esc(key.server.name)
    )
    await show(callback, text, admin_keyboards.move_targets(key, servers))


async def cb_move_ok(callback: CallbackQuery, callback_data: AdminMoveCB, ctx: Context) -> None:
    """Move the key (same id, link, usage and settings) and show its card."""
    key = await moves.move_to(
        ctx,
        key_id=callback_data.key_id,
        server_id=callback_data.server_id or None,
        actor=tg_actor(callback.from_user.id),
    )
    note = "✅ " + _("Moved to {server}.").format(server=esc(key.server.name))
    await _card(callback, key, ctx, note)


def parse_limit(text: str) -> int | None:
    """GB typed by an admin as bytes; ``None`` for no limit; ``ValueError`` when unreadable."""
    text = text.strip().lower().replace(",", ".")
    if text in NO_LIMIT:
        return None
    gigabytes = float(text)
    if not 0 <= gigabytes < 1e6:
        raise ValueError(text)
    return int(gigabytes * GIB)


async def msg_limit(message: Message, state: FSMContext, ctx: Context, bot: Bot) -> None:
    """Set the typed limit; an unreadable answer asks again."""
    try:
        limit = parse_limit(message.text or "")
    except ValueError:
        await message.answer(_("Send a number of GB such as 50, or “-” for no limit."))
        return
    data = await state.get_data()
    key = await changes.set_traffic_limit(
        ctx,
        key_id=data["key_id"],
        server=None,
        traffic_limit=limit,
        actor=tg_actor(message.chat.id),
    )
    await state.clear()
    if data.get("message_id"):
        await bot.edit_message_text(
            admin_texts.key_card(key, ctx.now(), dynamic_url(ctx.links, key)),
            chat_id=message.chat.id,
            message_id=data["message_id"],
            reply_markup=admin_keyboards.key_card(key),
        )
    await message.answer("✅ " + _("Limit saved. The card above is up to date."))


def create_router() -> Router:
    """The router of admin key actions."""
    router = Router(name=__name__)
    on = router.callback_query.register
    on(cb_key, AdminKeyCB.filter(F.action == A.SHOW))
    on(cb_extend, AdminKeyCB.filter(F.action.in_({A.EXTEND_7, A.EXTEND_30})))
    on(cb_set_active, AdminKeyCB.filter(F.action.in_({A.ENABLE, A.DISABLE})))
    on(cb_refresh, AdminKeyCB.filter(F.action == A.REFRESH), flags={THROTTLE_FLAG: "refresh"})
    on(cb_delete, AdminKeyCB.filter(F.action == A.DELETE))
    on(cb_delete_ok, AdminKeyCB.filter(F.action == A.DELETE_OK))
    on(cb_limit, AdminKeyCB.filter(F.action == A.LIMIT))
    on(cb_move, AdminKeyCB.filter(F.action == A.MOVE))
    on(cb_move_ok, AdminMoveCB.filter(), flags={THROTTLE_FLAG: "admin_move"})
    router.message.register(
        msg_limit, StateFilter(AdminInput.traffic_limit), F.text, ~F.text.startswith("/")
    )
    return router
