"""The admin panel: reachable only by ``ADMIN_IDS``; anyone else gets no answer at all."""

from typing import Any

from aiogram import Router
from aiogram.filters import Filter
from aiogram.types import User as TgUser

from bot.handlers.admin import broadcast, keys, panel, payments, users


class IsAdmin(Filter):
    """Pass only updates from a Telegram id listed in ``ADMIN_IDS``."""

    async def __call__(
        self, event: Any, admin_ids: frozenset[int], event_from_user: TgUser | None = None
    ) -> bool:
        return event_from_user is not None and event_from_user.id in admin_ids


def create_router() -> Router:
    """The admin router: every handler below sits behind ``IsAdmin``."""
    router = Router(name=__name__)
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.include_routers(
        panel.create_router(),
        users.create_router(),
        keys.create_router(),
        broadcast.create_router(),
        payments.create_router(),
    )
    return router
