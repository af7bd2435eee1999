"""Per-update data: the stored user, the interface language, and throttling of key issuing."""

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, tzinfo
from typing import Any

from aiogram import BaseMiddleware
from aiogram.dispatcher.flags import get_flag
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, TelegramObject, Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import I18n, I18nMiddleware
from aiogram.utils.i18n import gettext as _

from bot.formats import use_timezone
from db.models import User
from domain.accounts import users
from domain.errors import DomainError

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
THROTTLE_FLAG = "issues_keys"
# Returned by a throttled handler that showed a choice instead of issuing anything.
NOTHING_ISSUED = object()


class UserMiddleware(BaseMiddleware):
    """Put the stored ``User`` (or ``None`` before /start) into ``data["db_user"]``."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        tg_user: TgUser | None = data.get("event_from_user")
        db_user: User | None = None
        if tg_user is not None and not tg_user.is_bot:
            db_user = await users.stored_user(tg_user.id)
            writes = isinstance(event, Update) and (event.message or event.callback_query)
            if db_user is not None and db_user.bot_blocked_at is not None and writes:
                # Writing to us means the user unblocked the bot: notices may flow again.
                await users.set_bot_blocked(tg_user.id, False)
                db_user.bot_blocked_at = None
        data["db_user"] = db_user
        return await handler(event, data)


class LanguageMiddleware(I18nMiddleware):
    """The stored language when the user chose one, else Telegram's, else English; dates in
    the operator's display time zone."""

    def __init__(self, i18n: I18n, timezone: tzinfo = UTC) -> None:
        super().__init__(i18n)
        self.timezone = timezone

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        with use_timezone(self.timezone):
            return await super().__call__(handler, event, data)

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


class CommandClosesQuestion(BaseMiddleware):
    """A command other than /cancel (which closes it itself) leaves any open question, so
    text typed later is never taken as the answer to a question the user moved away from."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        text = event.text if isinstance(event, Message) else None
        state: FSMContext | None = data.get("state")
        if text and text.startswith("/") and state is not None:
            command = text.split(maxsplit=1)[0].split("@", 1)[0]
            if command != "/cancel":
                await state.clear()
        return await handler(event, data)


class ThrottleMiddleware(BaseMiddleware):
    """Per user, at most one key-issuing (or paying) action of a kind (the flag's value) per
    ``rate`` s. A flagged handler that only navigated (returned ``NOTHING_ISSUED``) or failed
    with a domain error (nothing changed) gives its slot back."""

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
        try:
            result = await handler(event, data)
        except DomainError:
            self._release(slot, now)
            raise
        if result is NOTHING_ISSUED:
            self._release(slot, now)
            return None
        return result

    def _release(self, slot: tuple[int, str], taken: float) -> None:
        if self._last.get(slot) == taken:  # unless another action took the slot meanwhile
            del self._last[slot]


async def _too_fast(event: TelegramObject) -> None:
    text = _("Too many requests — please wait a few seconds and try again.")
    if isinstance(event, CallbackQuery):
        await event.answer(text, show_alert=True)
    elif isinstance(event, Message):
        await event.answer(text)
