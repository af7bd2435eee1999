"""/help and "How to connect": Outline client links per platform and the three steps."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import MenuAction, MenuCB
from bot.screens import show


async def cmd_help(message: Message) -> None:
    """/help: the connection help as a new message."""
    await show(message, texts.help_text(), keyboards.connect_help())


async def cb_help(callback: CallbackQuery) -> None:
    """ "How to connect": the connection help, edited in place."""
    await show(callback, texts.help_text(), keyboards.connect_help())


def create_router() -> Router:
    """The router of the connection help."""
    router = Router(name=__name__)
    router.message.register(cmd_help, Command("help"))
    router.callback_query.register(cb_help, MenuCB.filter(F.action == MenuAction.HELP))
    return router
