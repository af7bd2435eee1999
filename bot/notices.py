"""Notices to key owners (reminders, quota, changes, broadcasts), rendered in their language."""

from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot import admin_notices
from bot.callbacks import BuyAction, BuyCB, KeyAction, KeyCB, MenuAction, MenuCB
from bot.formats import fmt_bytes, fmt_date, fmt_left, fmt_percent
from bot.shop_texts import day_count, stars
from bot.texts import esc, usage
from domain.billing import receipts
from domain.notices import outbox

BROADCAST = outbox.BROADCAST
# Notices after which the key is worth extending: they carry an "Extend" button.
RUNNING_OUT = frozenset(
    {
        outbox.EXPIRES_3D,
        outbox.EXPIRES_1D,
        outbox.EXPIRED,
        outbox.TRAFFIC_80,
        outbox.QUOTA_REACHED,
    }
)


def _moment(payload: dict[str, Any]) -> datetime | None:
    raw = payload.get("valid_until")
    if not raw:
        return None
    return raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))


def _valid(payload: dict[str, Any]) -> str:
    moment = _moment(payload)
    return _("no expiry") if moment is None else fmt_date(moment)


def _left(payload: dict[str, Any], now: datetime) -> str:
    moment = _moment(payload)
    return fmt_left(moment - now) if moment is not None else ""


def _share(payload: dict[str, Any]) -> str:
    return fmt_percent(
        int(payload.get("traffic_used") or 0), int(payload.get("traffic_limit") or 0)
    )


def _expires() -> str:
    return _("⏰ Your key “{name}” expires on {valid} ({left}).")


def _limit_changed(payload: dict[str, Any]) -> str:
    if payload.get("traffic_limit") is None:
        return _("📏 Your key “{name}” no longer has a traffic limit.")
    return _("📏 The traffic limit of your key “{name}” is now {limit}.")


def notice_text(kind: str, payload: dict[str, Any], now: datetime) -> str:
    """The message for one notice kind read at ``now``; unknown kinds get a neutral sentence."""
    if kind == BROADCAST:
        return str(payload.get("text", ""))
    if kind in admin_notices.KINDS:
        return admin_notices.admin_notice_text(kind, payload)
    name = esc(str(payload.get("key_name") or payload.get("key_id") or ""))
    used = usage(int(payload.get("traffic_used") or 0), payload.get("traffic_limit"))
    texts = {
        outbox.EXPIRES_3D: _expires,
        outbox.EXPIRES_1D: _expires,
        "expired": lambda: _("⏰ Your key “{name}” has expired and no longer works."),
        "traffic_80": lambda: _("📊 Your key “{name}” has used {share} of its traffic: {usage}."),
        "quota_reached": lambda: _(
            "📊 Your key “{name}” has used all of its traffic ({usage}) and is paused."
        ),
        "key_created": lambda: _("🔑 You have a new key “{name}” on {server}."),
        "key_extended": lambda: (
            _("✅ Your key “{name}” is now valid until {valid}.")
            if payload.get("valid_until")
            else _("✅ Your key “{name}” no longer expires.")
        ),
        "key_limit_changed": lambda: _limit_changed(payload),
        "key_disabled": lambda: _("⛔ Your key “{name}” has been disabled."),
        "key_enabled": lambda: _("▶️ Your key “{name}” works again."),
        outbox.KEY_REOPENED: lambda: _("▶️ Your key “{name}” works again."),
        "key_refreshed": lambda: _(
            "🔄 Your key “{name}” was replaced by a new one; the old one no longer works."
        ),
        "key_deleted": lambda: _("🗑 Your key “{name}” has been deleted."),
        "key_moved": lambda: _(
            "🚚 Your key “{name}” now runs on {server}. The dynamic key keeps working; "
            "if you use the static ss:// key, copy it again from the key's card."
        ),
        receipts.PAID: lambda: _(
            "✅ Your payment of {price} for “{plan}” is applied: “{name}” is valid until {valid}."
        ),
        receipts.REFUNDED: lambda: _(
            "↩️ Your payment of {price} for “{plan}” was refunded. “{name}”: {validity}."
        ),
        receipts.BONUS: lambda: _(
            "🎉 A friend you invited made their first payment: “{name}” got {days} and is "
            "valid until {valid}."
        ),
    }
    template = texts.get(kind, lambda: _("ℹ️ Your key “{name}” has changed."))()
    limit = payload.get("traffic_limit")
    return template.format(
        name=name,
        left=_left(payload, now),
        share=_share(payload),
        usage=used,
        server=esc(str(payload.get("server_title") or payload.get("server") or "")),
        valid=_valid(payload),
        limit=_("no limit") if limit is None else fmt_bytes(int(limit)),
        price=stars(int(payload.get("amount") or 0)),
        plan=esc(_plan(payload)),
        days=day_count(int(payload.get("days") or 0)),
        validity=_validity(payload),
    )


def _plan(payload: dict[str, Any]) -> str:
    """The plan's name in the language the notice is rendered in."""
    return str(payload.get("plan_ru" if get_i18n().current_locale == "ru" else "plan_en") or "")


def _validity(payload: dict[str, Any]) -> str:
    if payload.get("key_id") is None:
        return _("no key was issued")
    return _("valid until {valid}").format(valid=_valid(payload))


def notice_markup(kind: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """A button to the key the notice is about (none for broadcasts and deleted keys)."""
    if kind in (BROADCAST, "key_deleted"):
        return None
    if kind in admin_notices.KINDS:
        return admin_notices.admin_notice_markup()
    builder = InlineKeyboardBuilder()
    key_id = payload.get("key_id")
    if kind in RUNNING_OUT and isinstance(key_id, int):
        builder.button(
            text="💳 " + _("Extend"),
            callback_data=BuyCB(action=BuyAction.PLANS, key_id=key_id),
        )
    if isinstance(key_id, int):
        builder.button(
            text="🔑 " + _("Open the key"),
            callback_data=KeyCB(action=KeyAction.SHOW, key_id=key_id),
        )
    else:
        builder.button(text="🔑 " + _("My keys"), callback_data=MenuCB(action=MenuAction.KEYS))
    return builder.as_markup()
