"""/start (registration through the same domain call as ``POST api/user/``) and the main menu."""

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import MenuAction, MenuCB
from bot.screens import show
from db.models import User
from domain import users
from domain.audit import tg_actor
from domain.users import UserProfile

PAYLOAD_MAX = 64  # Telegram's limit for a deep-link payload


async def cmd_start(
    message: Message, command: CommandObject, state: FSMContext, db_user: User | None
) -> None:
    """Register or update the user, keep the deep-link payload, show the main menu."""
    tg = message.from_user
    if tg is None:
        return
    await state.clear()
    # Telegram's language is stored on first contact only; a choice made later is kept.
    language = tg.language_code if db_user is None or db_user.language_code is None else None
    profile = UserProfile(
        id=tg.id,
        first_name=tg.first_name,
        last_name=tg.last_name,
        username=tg.username,
        language_code=language,
    )
    payload = command.args[:PAYLOAD_MAX] if command.args else None
    user = await users.upsert_user(profile, actor=tg_actor(tg.id), start_payload=payload)
    markup = keyboards.main_menu(show_trial=user.demo_issued_at is None)
    await message.answer(texts.main_menu(tg.first_name), reply_markup=markup)


async def cb_home(callback: CallbackQuery, state: FSMContext, db_user: User | None) -> None:
    """Back to the main menu, edited in place."""
    await state.clear()
    show_trial = db_user is None or db_user.demo_issued_at is None
    menu = texts.main_menu(callback.from_user.first_name)
    await show(callback, menu, keyboards.main_menu(show_trial=show_trial))


def create_router() -> Router:
    """The router of /start and the main menu."""
    router = Router(name=__name__)
    router.message.register(cmd_start, CommandStart())
    router.callback_query.register(cb_home, MenuCB.filter(F.action == MenuAction.HOME))
    return router
