"""The worker's ``Messenger`` on Telegram: renders notices, maps Bot API errors for the outbox."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.utils.i18n import I18n

from bot.errors import redact
from bot.formats import use_timezone
from bot.notices import notice_markup, notice_text
from domain.accounts import users
from domain.context import utcnow
from domain.errors import NotFound
from domain.notices.messenger import RecipientBlocked, RetryLater

logger = logging.getLogger(__name__)

NETWORK_RETRY_SECONDS = 30.0
UNREACHABLE = ("chat not found", "user is deactivated", "bot can't initiate")


class TelegramMessenger:
    """Sends one notice per call; the worker's outbox paces calls within Telegram's limits."""

    def __init__(
        self,
        bot: Bot,
        i18n: I18n,
        *,
        timezone: tzinfo = UTC,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.bot, self.i18n = bot, i18n
        self.timezone, self.clock = timezone, clock  # reminders say the time left when sent
        self._closed = False

    def close(self) -> None:
        """Stop sending (the bot is shutting down); later notices wait for the next start."""
        self._closed = True

    async def send_notice(
        self, *, user_id: int, language: str | None, kind: str, payload: dict[str, Any]
    ) -> None:
        """Deliver one notice; raises ``RecipientBlocked`` or ``RetryLater`` for the outbox."""
        if self._closed:
            raise RetryLater(NETWORK_RETRY_SECONDS)
        await self._check_reachable(user_id)
        locale = language if language in self.i18n.available_locales else None
        language = locale or self.i18n.default_locale
        with self.i18n.context(), self.i18n.use_locale(language), use_timezone(self.timezone):
            text, markup = notice_text(kind, payload, self.clock()), notice_markup(kind, payload)
        try:
            await self.bot.send_message(user_id, text, reply_markup=markup)
        except TelegramForbiddenError:
            await self._blocked(user_id)
        except TelegramRetryAfter as exc:
            raise RetryLater(float(exc.retry_after)) from None
        except (TelegramNetworkError, TelegramServerError) as exc:
            logger.warning("notice to %s not sent yet: %s", user_id, redact(str(exc)))
            raise RetryLater(NETWORK_RETRY_SECONDS) from None
        except TelegramBadRequest as exc:
            if any(reason in exc.message.lower() for reason in UNREACHABLE):
                await self._blocked(user_id)
            raise

    async def _check_reachable(self, user_id: int) -> None:
        try:
            user = await users.get_user(user_id)
        except NotFound:
            raise RecipientBlocked(f"user {user_id} is unknown") from None
        if user.bot_blocked_at is not None:
            raise RecipientBlocked(f"user {user_id} blocked the bot")

    async def _blocked(self, user_id: int) -> None:
        await users.set_bot_blocked(user_id, True)
        logger.info("user %s blocked the bot; no more notices", user_id)
        raise RecipientBlocked(f"user {user_id} blocked the bot") from None
