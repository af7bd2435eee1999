"""Finding a user by id or @username, their card, and issuing them a new key."""

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import admin_keyboards, admin_texts
from bot.callbacks import AdminAction, AdminCB, AdminIssueCB, AdminUserCB
from bot.middlewares import THROTTLE_FLAG
from bot.screens import show
from bot.states import AdminInput
from domain.audit import tg_actor
from domain.context import Context
from domain.keys import user_keys
from domain.links.signing import dynamic_url
from domain.servers import registry


async def cb_find(callback: CallbackQuery, state: FSMContext) -> None:
    """Ask for a Telegram id or @username."""
    await state.set_state(AdminInput.user_query)
    await state.update_data(message_id=callback.message.message_id if callback.message else None)
    text = _("Send a Telegram id or @username.")
    await show(callback, text, admin_keyboards.cancel())


async def msg_user_query(message: Message, state: FSMContext, ctx: Context) -> None:
    """The user found by the query, with their keys."""
    overview = await user_keys.user_overview(message.text or "")
    await state.clear()
    text = admin_texts.user_card(overview, ctx.now())
    await show(message, text, admin_keyboards.user_card(overview))


async def cb_user(callback: CallbackQuery, callback_data: AdminUserCB, ctx: Context) -> None:
    """A user's card, edited in place."""
    overview = await user_keys.user_overview(callback_data.user_id)
    text = admin_texts.user_card(overview, ctx.now())
    await show(callback, text, admin_keyboards.user_card(overview))


async def cb_issue_choose(callback: CallbackQuery, callback_data: AdminIssueCB) -> None:
    """The servers a new key can go to."""
    active = await registry.list_servers(active_only=True)
    days = user_keys.ISSUED_KEY_DAYS
    text = ngettext(
        "New {n}-day key for {user}: choose a server.",
        "New {n}-day key for {user}: choose a server.",
        days,
    ).format(n=days, user=callback_data.user_id)
    await show(callback, text, admin_keyboards.issue_servers(callback_data.user_id, active))


async def cb_issue(callback: CallbackQuery, callback_data: AdminIssueCB, ctx: Context) -> None:
    """Issue the key on the chosen server and show it."""
    key = await user_keys.issue_user_key(
        ctx,
        tg_id=callback_data.user_id,
        server_id=callback_data.server_id,
        actor=tg_actor(callback.from_user.id),
    )
    card = admin_texts.key_card(key, ctx.now(), dynamic_url(ctx.links, key))
    text = "✅ " + _("Key issued.") + "\n\n" + card
    await show(callback, text, admin_keyboards.key_card(key))


def create_router() -> Router:
    """The router of user look-ups."""
    router = Router(name=__name__)
    router.callback_query.register(cb_find, AdminCB.filter(F.action == AdminAction.FIND))
    router.message.register(
        msg_user_query, StateFilter(AdminInput.user_query), F.text, ~F.text.startswith("/")
    )
    router.callback_query.register(cb_user, AdminUserCB.filter())
    router.callback_query.register(cb_issue_choose, AdminIssueCB.filter(F.server_id == 0))
    router.callback_query.register(
        cb_issue, AdminIssueCB.filter(F.server_id != 0), flags={THROTTLE_FLAG: "admin_issue"}
    )
    return router
