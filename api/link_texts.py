"""What the Outline app shows for a link that does not work, in the owner's language.

The sentences live in the bot's gettext catalog (``bot/locales``, domain ``messages``), so
one translation workflow covers every user-facing text.
"""

import functools
import gettext
from pathlib import Path

from babel.dates import format_date

from db.models import InactiveReason
from domain.links.answers import KeyRefused

LOCALES = Path(__file__).resolve().parent.parent / "bot" / "locales"


@functools.cache
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", LOCALES, languages=[language], fallback=True)


def refusal_text(refusal: KeyRefused, bot_username: str | None) -> tuple[str, str]:
    """``(message, details)`` of the error object for a key that is cut."""
    _ = _catalog(refusal.language).gettext
    bot = f"@{bot_username}" if bot_username else _("our Telegram bot")
    name = refusal.key_name
    if refusal.reason == InactiveReason.EXPIRED and refusal.valid_until is not None:
        date = format_date(refusal.valid_until.date(), "d MMMM y", locale=refusal.language)
        message = _("Your key “{name}” expired on {date}.").format(name=name, date=date)
        return message, _("Open {bot} in Telegram to extend it.").format(bot=bot)
    if refusal.reason == InactiveReason.EXPIRED:
        message = _("Your key “{name}” has expired.").format(name=name)
        return message, _("Open {bot} in Telegram to extend it.").format(bot=bot)
    if refusal.reason == InactiveReason.TRAFFIC:
        message = _("Your key “{name}” has used all of its traffic.").format(name=name)
        return message, _("Open {bot} in Telegram to get more traffic.").format(bot=bot)
    message = _("Your key “{name}” has been disabled.").format(name=name)
    return message, _("Ask for help in {bot} on Telegram.").format(bot=bot)


def unknown_text(language: str) -> tuple[str, str]:
    """``(message, details)`` for a link that does not exist (or no longer does)."""
    _ = _catalog(language).gettext
    return _("This access key does not exist."), _(
        "It may have been replaced: ask for your current key in Telegram."
    )


def too_many_text(language: str) -> tuple[str, str]:
    """``(message, details)`` when one address fetched links too often."""
    _ = _catalog(language).gettext
    return _("Too many requests."), _("Wait a minute, then connect again.")
