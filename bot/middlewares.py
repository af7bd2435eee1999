"""Per-update data: the stored user, the interface language, and throttling of key issuing."""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18nMiddleware
from aiogram.utils.i18n import gettext as _

from db.models import User
from domain.accounts import users
from domain.errors import NotFound

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
THROTTLE_FLAG = "issues_keys"


class UserMiddleware(BaseMiddleware):
    """Put the stored ``User`` (or ``None`` before /start) into ``data["db_user"]``."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        db_user: User | None = None
        if tg_user is not None and not tg_user.is_bot:
            try:
                db_user = await users.get_user(tg_user.id)
            except NotFound:
                db_user = None
            writes = isinstance(event, Update) and (event.message or event.callback_query)
            if db_user is not None and db_user.bot_blocked_at is not None and writes:
                # Writing to us means the user unblocked the bot: notices may flow again.
                await users.set_bot_blocked(tg_user.id, False)
                db_user.bot_blocked_at = None
        data["db_user"] = db_user
        return await handler(event, data)


class LanguageMiddleware(I18nMiddleware):
    """The stored language when the user chose one, else Telegram's, else English."""

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        """The locale for this update."""
        db_user: User | None = data.get("db_user")
        tg_user: TgUser | None = data.get("event_from_user")
        for code in (
            db_user.language_code if db_user else None,
            tg_user.language_code if tg_user else None,
        ):
            if code and code.split("-")[0].lower() in self.i18n.available_locales:
                return code.split("-")[0].lower()
        return self.i18n.default_locale


class ThrottleMiddleware(BaseMiddleware):
    """Per user, at most one key-issuing action of a kind (the flag's value) per ``rate`` s."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self._last: dict[tuple[int, str], float] = {}

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        kind = get_flag(data, THROTTLE_FLAG)
        if self.rate <= 0 or tg_user is None or not kind:
            return await handler(event, data)
        now, slot = self.clock(), (tg_user.id, str(kind))
        if slot in self._last and now - self._last[slot] < self.rate:
            await _too_fast(event)
            return None
        self._last[slot] = now
        if len(self._last) > 10_000:  # forget old entries so the map cannot grow forever
            self._last = {k: v for k, v in self._last.items() if now - v < self.rate}
        return await handler(event, data)


async def _too_fast(event: TelegramObject) -> None:
    text = _("Too many requests — please wait a few seconds and try again.")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    elif isinstance(event, Message):
        await event.answer(text)
