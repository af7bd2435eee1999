"""/language and the language buttons; the choice is stored on the user."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot import keyboards, texts
from bot.callbacks import LanguageCB, MenuAction, MenuCB
from bot.screens import show
from domain.accounts import users
from domain.audit import tg_actor


async def cmd_language(message: Message) -> None:
    """/language: offer the interface languages."""
    await show(message, texts.language_prompt(), keyboards.languages())


async def cb_language(callback: CallbackQuery) -> None:
    """The Language button: offer the interface languages in place."""
    await show(callback, texts.language_prompt(), keyboards.languages())


async def cb_set_language(callback: CallbackQuery, callback_data: LanguageCB, i18n: I18n) -> None:
    """Store the chosen language and show the main menu in it."""
    tg = callback.from_user
    user = await users.set_language(tg.id, callback_data.code, actor=tg_actor(tg.id))
    with i18n.use_locale(callback_data.code):
        markup = keyboards.main_menu(show_trial=not user.has_demo)
        text = _("Language changed.") + "\n\n" + texts.main_menu(tg.first_name)
        await show(callback, text, markup)


def create_router() -> Router:
    """The router of the language choice."""
    router = Router(name=__name__)
    router.message.register(cmd_language, Command("language"))
    router.callback_query.register(cb_language, MenuCB.filter(F.action == MenuAction.LANGUAGE))
    router.callback_query.register(cb_set_language, LanguageCB.filter())
    return router
