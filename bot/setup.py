"""Building the bot: dispatcher, commands, and attaching it to the aiohttp app."""

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import BotCommand
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiohttp import web

from bot.client import create_bot
from bot.errors import on_error, redact
from bot.handlers import admin, buy, fallback, invite, keys, language, payments, start, trial
from bot.handlers import help as connect_help
from bot.middlewares import (
    CommandClosesQuestion,
    LanguageMiddleware,
    ThrottleMiddleware,
    UserMiddleware,
)
from bot.notifier import TelegramMessenger
from bot.webhook import WebhookHandler, update_log
from domain.context import Context
from domain.settings import Settings

logger = logging.getLogger(__name__)

LOCALES = Path(__file__).parent / "locales"
THROTTLE_SECONDS = 5.0
RETRY_SECONDS = 5.0
POLL_STOP_SECONDS = 15.0
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


def build_i18n() -> I18n:
    """The gettext catalogs under ``bot/locales`` (English is the source language)."""
    return I18n(path=LOCALES, default_locale="en", domain="messages")


def build_storage(settings: Settings) -> BaseStorage:
    """FSM storage: Redis when ``REDIS_URL`` is set (several instances), memory otherwise."""
    if settings.redis_url is not None:
        return RedisStorage.from_url(settings.redis_url.get_secret_value())
    return MemoryStorage()


def build_dispatcher(
    ctx: Context,
    settings: Settings,
    *,
    i18n: I18n | None = None,
    storage: BaseStorage | None = None,
    throttle_seconds: float = THROTTLE_SECONDS,
) -> Dispatcher:
    """The production dispatcher: middlewares, the error handler and every feature router."""
    dp = Dispatcher(
        storage=storage or build_storage(settings), ctx=ctx, admin_ids=settings.admin_ids
    )
    dp.update.outer_middleware(UserMiddleware())
    # Also wraps the error handler.
    LanguageMiddleware(i18n or build_i18n(), settings.display_tz).setup(dp)
    dp.message.outer_middleware(CommandClosesQuestion())
    throttle = ThrottleMiddleware(throttle_seconds)
    dp.message.middleware(throttle)
    dp.callback_query.middleware(throttle)
    dp.errors.register(on_error)
    dp.include_routers(
        admin.create_router(),  # first: an admin's open question wins
        start.create_router(),
        keys.create_router(),
        trial.create_router(),
        buy.create_router(),
        payments.create_router(),
        invite.create_router(),
        connect_help.create_router(),
        language.create_router(),
        fallback.create_router(),  # last: what nothing else took
    )
    return dp


def bot_commands() -> list[BotCommand]:
    """The command menu in the current language."""
    return [
        BotCommand(command="keys", description=_("My keys")),
        BotCommand(command="trial", description=_("Free trial")),
        BotCommand(command="buy", description=_("Buy or extend a key")),
        BotCommand(command="invite", description=_("Invite friends")),
        BotCommand(command="help", description=_("How to connect")),
        BotCommand(command="language", description=_("Language")),
    ]


async def set_commands(bot: Bot, i18n: I18n) -> None:
    """Register the command menu in English (the default) and in Russian."""
    for locale in sorted(i18n.available_locales):
        with i18n.context(), i18n.use_locale(locale):
            commands = bot_commands()
        language = None if locale == i18n.default_locale else locale
        await bot.set_my_commands(commands, language_code=language)


def webhook_secret(settings: Settings) -> str:
    """``WEBHOOK_SECRET``, or one derived from the token so every instance agrees on it."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value()
    token = settings.bot_token.get_secret_value() if settings.bot_token else ""
    return hashlib.sha256(b"vpnkeys-webhook:" + token.encode()).hexdigest()


def webhook_path(settings: Settings) -> str:
    """The path of ``WEBHOOK_URL``, where the app receives Telegram's updates."""
    path = urlsplit(settings.webhook_url or "").path
    return path if path not in ("", "/") else DEFAULT_WEBHOOK_PATH


def webhook_target(settings: Settings) -> str:
    """The URL given to setWebhook: ``WEBHOOK_URL``, with the default path if it has none."""
    url = settings.webhook_url or ""
    if urlsplit(url).path in ("", "/"):
        return url.rstrip("/") + DEFAULT_WEBHOOK_PATH
    return url


async def _poll(dp: Dispatcher, bot: Bot, i18n: I18n) -> None:
    """Commands, then long polling until stopped; starts over after failures (Telegram down)."""
    while True:
        try:
            await set_commands(bot, i18n)
            await bot.delete_webhook()
            await dp.start_polling(bot, handle_signals=False, close_bot_session=False)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.error("polling failed, retrying: %s", redact(repr(exc)))
            await asyncio.sleep(RETRY_SECONDS)


async def _register_webhook(dp: Dispatcher, bot: Bot, i18n: I18n, settings: Settings) -> None:
    """Commands and setWebhook, retried until Telegram accepts them."""
    while True:
        try:
            await set_commands(bot, i18n)
            await bot.set_webhook(
                webhook_target(settings),
                secret_token=webhook_secret(settings),
                allowed_updates=dp.resolve_used_update_types(),
            )
            return
        except TelegramAPIError as exc:
            logger.error("setWebhook failed, retrying: %s", redact(str(exc)))
            await asyncio.sleep(RETRY_SECONDS)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task


async def _stop_polling(dp: Dispatcher, task: asyncio.Task[None]) -> None:
    """Stop long polling gracefully (its own tasks finish), then cancel and await the task."""
    with suppress(RuntimeError, TimeoutError):  # RuntimeError: not polling right now
        await asyncio.wait_for(dp.stop_polling(), POLL_STOP_SECONDS)
    await _cancel(task)


def attach_bot(
    app: web.Application,
    settings: Settings,
    context: Callable[[], Context],
    *,
    polls: bool = True,
) -> TelegramMessenger:
    """Run the bot inside ``app`` (polling task, or webhook route) and return its Messenger.

    ``context`` gives the domain context once the app's resources are open. Without
    ``polls`` (the other processes of ``serve --workers``) there is no polling task: the
    bot only sends.
    """
    bot, i18n = create_bot(settings), build_i18n()
    messenger = TelegramMessenger(bot, i18n, timezone=settings.display_tz)
    webhook: list[WebhookHandler] = []

    async def receive(request: web.Request) -> web.StreamResponse:
        if not webhook:
            raise web.HTTPServiceUnavailable(text="bot is starting")
        return await webhook[0].handle(request)

    if settings.webhook_url:
        # Routes must exist before the app starts; the handler arrives with the context.
        app.router.add_post(webhook_path(settings), receive)

    async def bot_ctx(app: web.Application) -> AsyncIterator[None]:
        dp = build_dispatcher(context(), settings, i18n=i18n)
        # Telegram calls run in tasks: the API starts at once even when Telegram is down.
        if settings.webhook_url:
            async with _webhook(dp, bot, i18n, settings, webhook):
                yield
        elif polls:
            task = asyncio.create_task(_poll(dp, bot, i18n), name="telegram-polling")
            yield
            await _stop_polling(dp, task)
        else:
            yield
        messenger.close()
        await bot.session.close()

    app.cleanup_ctx.append(bot_ctx)
    return messenger


@asynccontextmanager
async def _webhook(
    dp: Dispatcher, bot: Bot, i18n: I18n, settings: Settings, slot: list[WebhookHandler]
) -> AsyncIterator[None]:
    """Serve updates posted to the webhook path while inside the ``async with``."""
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    seen = update_log(redis_url)  # each update_id once, across instances with Redis
    # Answer only after handling: Telegram re-sends what a crashed process did not finish.
    handler = WebhookHandler(dp, bot, secret=webhook_secret(settings), seen=seen)
    await dp.emit_startup(bot=bot, dispatcher=dp)
    slot.append(handler)
    register = asyncio.create_task(_register_webhook(dp, bot, i18n, settings))
    try:
        yield
    finally:
        slot.clear()
        await _cancel(register)
        await dp.emit_shutdown(bot=bot, dispatcher=dp)
        await seen.close()
