"""Notices to key owners (reminders, quota, changes, broadcasts), rendered in their language."""

from datetime import datetime
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import KeyAction, KeyCB, MenuAction, MenuCB
from bot.texts import esc, fmt_bytes, fmt_date, usage
from domain.notices import outbox

BROADCAST = outbox.BROADCAST


def _valid(payload: dict[str, Any]) -> str:
    raw = payload.get("valid_until")
    if not raw:
        return _("no expiry")
    moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
    return fmt_date(moment)


def _limit(payload: dict[str, Any]) -> str:
    limit = payload.get("traffic_limit")
    return _("no limit") if limit is None else fmt_bytes(int(limit))


def _expires(days: int) -> str:
    return ngettext(
        "⏰ Your key “{name}” expires in {n} day, on {valid}.",
        "⏰ Your key “{name}” expires in {n} days, on {valid}.",
        days,
    )


def notice_text(kind: str, payload: dict[str, Any]) -> str:
    """The message for one notice kind; unknown kinds get a neutral sentence."""
    if kind == BROADCAST:
        return str(payload.get("text", ""))
    name = esc(str(payload.get("key_name") or payload.get("key_id") or ""))
    used = usage(int(payload.get("traffic_used") or 0), payload.get("traffic_limit"))
    texts = {
        "expires_3d": lambda: _expires(3),
        "expires_1d": lambda: _expires(1),
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
        "key_limit_changed": lambda: _(
            "📏 The traffic limit of your key “{name}” is now {limit}."
        ),
        "key_disabled": lambda: _("⛔ Your key “{name}” has been disabled."),
        "key_enabled": lambda: _("▶️ Your key “{name}” works again."),
        "key_refreshed": lambda: _(
            "🔄 Your key “{name}” was replaced by a new one; the old one no longer works."
        ),
        "key_deleted": lambda: _("🗑 Your key “{name}” has been deleted."),
    }
    template = texts.get(kind, lambda: _("ℹ️ Your key “{name}” has changed."))()
    return template.format(
        name=name,
        n=3 if kind == "expires_3d" else 1,
        share="80%",
        usage=used,
        server=esc(str(payload.get("server") or "")),
        valid=_valid(payload),
        limit=_limit(payload),
    )


def notice_markup(kind: str, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
    """A button to the key the notice is about (none for broadcasts and deleted keys)."""
    if kind in (BROADCAST, "key_deleted"):
        return None
    builder = InlineKeyboardBuilder()
    key_id = payload.get("key_id")
    if isinstance(key_id, int):
        builder.button(
            text="🔑 " + _("Open the key"),
            callback_data=KeyCB(action=KeyAction.SHOW, key_id=key_id),
        )
    else:
        builder.button(text="🔑 " + _("My keys"), callback_data=MenuCB(action=MenuAction.KEYS))
    return builder.as_markup()
