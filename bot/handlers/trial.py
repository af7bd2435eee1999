"""Free trial: choose a server when several are active, issue the demo key, show how to connect."""

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot import keyboards, texts
from bot.callbacks import MenuAction, MenuCB, TrialCB
from bot.middlewares import NOTHING_ISSUED, THROTTLE_FLAG
from bot.screens import send_qr, show
from domain.audit import tg_actor
from domain.context import Context
from domain.keys import user_keys
from domain.links.signing import dynamic_url


async def _trial(
    event: Message | CallbackQuery, ctx: Context, server_id: int | None
) -> object | None:
    tg_id = event.from_user.id if event.from_user else 0
    offer = await user_keys.start_trial(
        ctx, tg_id=tg_id, server_id=server_id, actor=tg_actor(tg_id)
    )
    if offer.key is None:
        await show(event, texts.choose_server(), keyboards.trial_servers(offer.servers))
        return NOTHING_ISSUED  # a choice is navigation: not throttled
    key, link = offer.key, dynamic_url(ctx.links, offer.key)
    await show(
        event,
        texts.trial_issued(key, ctx.now(), link),
        keyboards.key_card(key.id, dynamic=bool(link)),
    )
    await send_qr(event, key, link)
    return None


async def cmd_trial(message: Message, ctx: Context) -> object | None:
    """/trial: the free trial key (or the server choice)."""
    return await _trial(message, ctx, None)


async def cb_trial(callback: CallbackQuery, ctx: Context) -> object | None:
    """ "Free trial": the key (or the server choice), edited in place."""
    return await _trial(callback, ctx, None)


async def cb_trial_server(
    callback: CallbackQuery, callback_data: TrialCB, ctx: Context
) -> object | None:
    """The trial key on the chosen server."""
    return await _trial(callback, ctx, callback_data.server_id)


def create_router() -> Router:
    """The router of the free trial."""
    router = Router(name=__name__)
    router.message.register(cmd_trial, Command("trial"), flags={THROTTLE_FLAG: "trial"})
    router.callback_query.register(
        cb_trial, MenuCB.filter(F.action == MenuAction.TRIAL), flags={THROTTLE_FLAG: "trial"}
    )
    router.callback_query.register(
        cb_trial_server, TrialCB.filter(), flags={THROTTLE_FLAG: "trial_server"}
    )
    return router
