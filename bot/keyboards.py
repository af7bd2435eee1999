"""Inline keyboards of the user-facing screens."""

import functools

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    BuyAction,
    BuyCB,
    KeyAction,
    KeyCB,
    LanguageCB,
    MenuAction,
    MenuCB,
    TrialCB,
)
from bot.texts import OUTLINE_CLIENTS, server_button
from db.models import VPNKey, VPNServer
from domain.keys.user_keys import AUTO_SERVER_ID

LANGUAGE_NAMES = {"en": "🇬🇧 English", "ru": "🇷🇺 Русский"}


def back_to_menu(builder: InlineKeyboardBuilder | None = None) -> InlineKeyboardMarkup:
    """A single "Back" button to the main menu (appended to ``builder``)."""
    builder = builder or InlineKeyboardBuilder()
    home = MenuCB(action=MenuAction.HOME).pack()
    builder.row(InlineKeyboardButton(text="« " + _("Back"), callback_data=home))
    return builder.as_markup()


def main_menu(*, show_trial: bool) -> InlineKeyboardMarkup:
    """My keys · Buy · Free trial (until used) · Invite · How to connect · Language."""
    return _main_menu(get_i18n().current_locale, show_trial)


@functools.lru_cache(maxsize=64)
def _main_menu(locale: str, show_trial: bool) -> InlineKeyboardMarkup:
    """The main menu in ``locale`` (the current one): built once per language, as every
    /start shows it (aiogram only reads a markup it sends)."""
    items = [
        ("🔑 " + _("My keys"), MenuAction.KEYS),
        ("💳 " + _("Buy / extend"), MenuAction.BUY),
    ]
    if show_trial:
        items.append(("🎁 " + _("Free trial"), MenuAction.TRIAL))
    items += [
        ("👥 " + _("Invite friends"), MenuAction.INVITE),
        ("📖 " + _("How to connect"), MenuAction.HELP),
        ("🌐 " + _("Language"), MenuAction.LANGUAGE),
    ]
    # Built directly: InlineKeyboardBuilder deep-copies every button on each call (6x the
    # cost, on every /start; see docs/performance.md).
    rows = [
        [InlineKeyboardButton(text=t, callback_data=MenuCB(action=a).pack())] for t, a in items
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def keys_list(keys: list[VPNKey], *, show_trial: bool) -> InlineKeyboardMarkup:
    """One button per key, the trial offer when there is nothing else, and Back."""
    builder = InlineKeyboardBuilder()
    for key in keys:
        builder.button(
            text=f"🔑 {key.name}", callback_data=KeyCB(action=KeyAction.SHOW, key_id=key.id)
        )
    if show_trial:
        builder.button(text="🎁 " + _("Free trial"), callback_data=MenuCB(action=MenuAction.TRIAL))
    builder.adjust(1)
    return back_to_menu(builder)


def key_card(
    key_id: int, *, dynamic: bool = False, renews: bool | None = None
) -> InlineKeyboardMarkup:
    """QR code · (Static key, with a dynamic link) · Refresh · Rename · Extend ·
    (auto-renewal, with a subscription) · Back."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="📷 " + _("QR code"), callback_data=KeyCB(action=KeyAction.QR, key_id=key_id)
    )
    if dynamic:
        builder.button(
            text="🔑 " + _("Static key (ss://)"),
            callback_data=KeyCB(action=KeyAction.STATIC, key_id=key_id),
        )
    builder.button(
        text="🔄 " + _("Refresh"), callback_data=KeyCB(action=KeyAction.REFRESH, key_id=key_id)
    )
    builder.button(
        text="✏️ " + _("Rename"), callback_data=KeyCB(action=KeyAction.RENAME, key_id=key_id)
    )
    builder.button(
        text="💳 " + _("Extend"), callback_data=BuyCB(action=BuyAction.PLANS, key_id=key_id)
    )
    if renews is not None:
        text = _("Cancel auto-renewal") if renews else _("Resume auto-renewal")
        action = KeyAction.RENEW_OFF if renews else KeyAction.RENEW_ON
        builder.button(text="🔁 " + text, callback_data=KeyCB(action=action, key_id=key_id))
    builder.button(text="« " + _("Back"), callback_data=MenuCB(action=MenuAction.KEYS))
    builder.adjust(2 if dynamic else 1, 2, 1, *((1,) if renews is not None else ()), 1)
    return builder.as_markup()


def static_key(key_id: int) -> InlineKeyboardMarkup:
    """Back to the key's card."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="« " + _("Back"), callback_data=KeyCB(action=KeyAction.SHOW, key_id=key_id)
    )
    return builder.as_markup()


def refresh_confirm(key_id: int) -> InlineKeyboardMarkup:
    """Yes, refresh · Cancel."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="✅ " + _("Yes, refresh"),
        callback_data=KeyCB(action=KeyAction.REFRESH_OK, key_id=key_id),
    )
    builder.button(text=_("Cancel"), callback_data=KeyCB(action=KeyAction.SHOW, key_id=key_id))
    return builder.as_markup()


def rename_cancel(key_id: int) -> InlineKeyboardMarkup:
    """Cancel the rename and return to the card."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Cancel"), callback_data=KeyCB(action=KeyAction.SHOW, key_id=key_id))
    return builder.as_markup()


def trial_servers(servers: list[VPNServer]) -> InlineKeyboardMarkup:
    """One button per active server."""
    builder = InlineKeyboardBuilder()
    for server in servers:
        builder.button(text=server_button(server), callback_data=TrialCB(server_id=server.id))
    auto = TrialCB(server_id=AUTO_SERVER_ID)
    builder.button(text="⚖️ " + _("Any server (the least busy)"), callback_data=auto)
    builder.adjust(1)
    return back_to_menu(builder)


def connect_help() -> InlineKeyboardMarkup:
    """Download links of the Outline client per platform."""
    builder = InlineKeyboardBuilder()
    for platform, url in OUTLINE_CLIENTS:
        builder.button(text=f"⬇️ {platform}", url=url)
    builder.adjust(2)
    return back_to_menu(builder)


def languages() -> InlineKeyboardMarkup:
    """One button per interface language."""
    builder = InlineKeyboardBuilder()
    for code, name in LANGUAGE_NAMES.items():
        builder.button(text=name, callback_data=LanguageCB(code=code))
    builder.adjust(2)
    return back_to_menu(builder)
