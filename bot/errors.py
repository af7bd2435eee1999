"""The one error handler: domain errors become translated replies, the rest is logged."""

import logging
import re
import traceback
from html import unescape

from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import ErrorEvent, Update
from aiogram.types import User as TgUser
from aiogram.utils.i18n import gettext as _

from bot import shop_texts, texts
from bot.texts import esc
from domain.accounts import users
from domain.bounds import MAX_YEAR, ExpiryOutOfRange
from domain.errors import Conflict, DomainError, Invalid, NotFound, ServerUnavailable
from domain.keys.user_keys import TrialUsed

logger = logging.getLogger(__name__)

ALERT_LIMIT = 200  # Telegram's limit for a callback answer
SECRETS = (
    re.compile(r"ss://\S+"),  # access URLs
    re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}"),  # bot tokens (also inside Bot API URLs)
    re.compile(r"https?://\S+"),  # server API URLs carry a secret path
)


def redact(text: str) -> str:
    """``text`` with access URLs, bot tokens and URLs replaced by ``[redacted]``."""
    for pattern in SECRETS:
        text = pattern.sub("[redacted]", text)
    return text


def domain_error_text(exc: DomainError, *, admin: bool) -> str:
    """A translated sentence for a domain error; admins also see the (safe) English detail."""
    billing = shop_texts.billing_error(exc)
    if billing is not None:
        text = billing
    elif isinstance(exc, TrialUsed):
        text = texts.trial_used()
    elif isinstance(exc, ServerUnavailable):
        text = _("The VPN server is not answering right now. Nothing was changed — try later.")
    elif isinstance(exc, NotFound) and "user" in exc.params and not admin:
        text = _("Please send /start first.")
    elif isinstance(exc, NotFound):
        text = _("Not found — it may have been deleted.")
    elif isinstance(exc, ExpiryOutOfRange):
        text = _("A key cannot be valid beyond the year {year}.").format(year=MAX_YEAR)
    elif isinstance(exc, Invalid) and exc.params.get("field") == "name":
        text = _("The name must be 1–100 characters. Send another one or press Cancel.")
    elif isinstance(exc, Invalid):
        text = _("That value is not accepted.")
    elif isinstance(exc, Conflict) and "server" in exc.params:
        text = _("This server is disabled right now.")
    else:
        text = _("That is not possible right now.")
    return f"{text}\n\n<i>{esc(exc.message)}</i>" if admin else text


async def on_error(
    event: ErrorEvent, admin_ids: frozenset[int], event_from_user: TgUser | None = None
) -> bool:
    """Answer what the user can act on, mark blocked users, log everything unexpected."""
    exc, update = event.exception, event.update
    if isinstance(exc, TelegramForbiddenError):
        if event_from_user is not None:
            await users.set_bot_blocked(event_from_user.id, True)
            logger.info("user %s blocked the bot", event_from_user.id)
        return True
    if isinstance(exc, TelegramBadRequest) and "message is not modified" in exc.message:
        if update.callback_query is not None:  # same screen pressed twice: just stop the spinner
            await update.callback_query.answer()
        return True
    if isinstance(exc, DomainError):
        admin = event_from_user is not None and event_from_user.id in admin_ids
        await _reply(update, domain_error_text(exc, admin=admin))
        return True
    trace = "".join(traceback.format_exception(exc))
    logger.error("update %s failed: %s", update.update_id, redact(trace))
    await _reply(update, _("Something went wrong. Please try again later."))
    return True


async def _reply(update: Update, text: str) -> None:
    try:
        if update.callback_query is not None:
            plain = unescape(re.sub(r"<[^>]+>", "", text))
            await update.callback_query.answer(plain[:ALERT_LIMIT], show_alert=True)
        elif update.message is not None:
            await update.message.answer(text)
    except Exception as exc:  # a failed apology must not raise again
        logger.warning("could not report an error to the user: %s", type(exc).__name__)
