"""/start (the same domain call as ``POST api/user/``), the main menu, and blocking the bot."""

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message

from bot import keyboards, texts
from bot.callbacks import MenuAction, MenuCB
from bot.screens import show
from db.models import User
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.audit import tg_actor

PAYLOAD_MAX = 64  # Telegram's limit for a deep-link payload


async def cmd_start(message: Message, command: CommandObject, db_user: User | None) -> None:
    """Register or update the user, keep the deep-link payload, show the main menu (an open
    question was closed by ``CommandClosesQuestion``, as by every command)."""
    payload = command.args[:PAYLOAD_MAX] if command.args else None
    await greet(message, db_user, payload)


async def greet(message: Message, db_user: User | None, payload: str | None = None) -> None:
    """Register or update the sender (as ``POST api/user/`` does) and show the main menu."""
    tg = message.from_user
    if tg is None:
        return
    # Telegram's language is stored on first contact only; a choice made later is kept.
    language = tg.language_code if db_user is None or db_user.language_code is None else None
    profile = UserProfile(
        id=tg.id,
        first_name=tg.first_name,
        last_name=tg.last_name,
        username=tg.username,
        language_code=language,
    )
    user = await users.upsert_user(
        profile, actor=tg_actor(tg.id), start_payload=payload, seen=db_user
    )
    markup = keyboards.main_menu(show_trial=not user.has_demo)
    await message.answer(texts.main_menu(tg.first_name), reply_markup=markup)


async def cb_home(callback: CallbackQuery, state: FSMContext, db_user: User | None) -> None:
    """Back to the main menu, edited in place."""
    await state.clear()
    show_trial = db_user is None or not db_user.has_demo
    menu = texts.main_menu(callback.from_user.first_name)
    await show(callback, menu, keyboards.main_menu(show_trial=show_trial))


async def on_bot_blocked(event: ChatMemberUpdated) -> None:
    """Telegram says the user blocked the bot: stop notices at once."""
    await users.set_bot_blocked(event.from_user.id, True)


async def on_bot_unblocked(event: ChatMemberUpdated) -> None:
    """The user unblocked the bot: notices may flow again."""
    await users.set_bot_blocked(event.from_user.id, False)


def create_router() -> Router:
    """The router of /start, the main menu and the user blocking or unblocking the bot."""
    router = Router(name=__name__)
    router.message.register(cmd_start, CommandStart())
    router.callback_query.register(cb_home, MenuCB.filter(F.action == MenuAction.HOME))
    private = F.chat.type == ChatType.PRIVATE
    router.my_chat_member.register(
        on_bot_blocked, private, ChatMemberUpdatedFilter(member_status_changed=KICKED)
    )
    router.my_chat_member.register(
        on_bot_unblocked, private, ChatMemberUpdatedFilter(member_status_changed=MEMBER)
    )
    return router
