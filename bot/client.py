"""The service's Bot client, made here for the bot and for the CLI's Stars calls."""

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from domain.settings import Settings


def create_bot(settings: Settings) -> Bot:
    """The Bot client, on a custom Bot API server when ``TELEGRAM_API_BASE`` is set."""
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is not set")
    api = settings.telegram_api_base
    session = AiohttpSession(api=TelegramAPIServer.from_base(api)) if api else AiohttpSession()
    return Bot(
        settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
