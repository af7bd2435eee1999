"""Whatever no other router took: a hint and the main menu (or a reminder of the question);
a button nothing handles (an old or forged one) gets a short answer, never a spinner."""

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.handlers.start import greet
from db.models import User


async def msg_unknown(message: Message, state: FSMContext, db_user: User | None) -> None:
    """Unknown text or command: point at the open question, or at the menu."""
    if await state.get_state() is not None:
        await message.answer(texts.answer_the_question())
    elif db_user is None:
        await greet(message, db_user)  # a first message that is not /start: welcome them
    else:
        markup = keyboards.main_menu(show_trial=not db_user.has_demo)
        await message.answer(texts.not_understood(), reply_markup=markup)


async def cb_unknown(query: CallbackQuery) -> None:
    """A button no handler matches: say it no longer works, so the client stops waiting."""
    await query.answer(texts.button_outdated())


def create_router() -> Router:
    """The last router: messages in private chats and button presses nothing else handled."""
    router = Router(name=__name__)
    router.message.register(msg_unknown, F.chat.type == ChatType.PRIVATE)
    router.callback_query.register(cb_unknown)
    return router
