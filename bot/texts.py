"""Formatting helpers: every user-facing sentence, translated, with user data HTML-escaped."""

import html
import math
from datetime import datetime

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from db.models import InactiveReason, VPNKey
from domain.keys.rules import is_expired

DAY = 86400

OUTLINE_CLIENTS = (
    ("Android", "https://play.google.com/store/apps/details?id=org.outline.android.client"),
    ("iPhone / iPad", "https://apps.apple.com/app/outline-app/id1356177741"),
    ("macOS", "https://apps.apple.com/app/outline-app/id1356178125"),
    (
        "Windows",
        "https://s3.amazonaws.com/outline-releases/client/windows/stable/Outline-Client.exe",
    ),
    (
        "Linux",
        "https://s3.amazonaws.com/outline-releases/client/linux/stable/Outline-Client.AppImage",
    ),
)


def esc(text: str) -> str:
    """``text`` safe inside Telegram HTML (quotes need no escaping outside attributes)."""
    return html.escape(text, quote=False)


def fmt_bytes(size: int) -> str:
    """``1536`` → ``1.5 KB`` (binary multiples, translated unit names)."""
    units = (_("B"), _("KB"), _("MB"), _("GB"), _("TB"))
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{int(value)} {units[0]}" if unit == 0 else f"{value:.1f} {units[unit]}"


def fmt_date(moment: datetime) -> str:
    """A UTC timestamp as ``2026-12-31 12:00 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def key_status(key: VPNKey, now: datetime) -> str:
    """Active / expired / quota reached / disabled, with a marker."""
    if key.inactive_reason == InactiveReason.MANUAL:
        return "⛔ " + _("disabled")
    if key.inactive_reason == InactiveReason.EXPIRED or is_expired(key, now):
        return "⏰ " + _("expired")
    if key.inactive_reason == InactiveReason.TRAFFIC:
        return "📊 " + _("quota reached")
    return "🟢 " + _("active")


def expiry(key: VPNKey, now: datetime) -> str:
    """How long the key stays valid."""
    if key.valid_until is None:
        return _("no expiry")
    if key.valid_until <= now:
        return _("expired on {date}").format(date=fmt_date(key.valid_until))
    days = math.ceil((key.valid_until - now).total_seconds() / DAY)
    left = ngettext("{n} day left", "{n} days left", days).format(n=days)
    return _("until {date} ({left})").format(date=fmt_date(key.valid_until), left=left)


def usage(used: int, limit: int | None) -> str:
    """Traffic used against the limit."""
    if limit is None:
        return _("{used} (no limit)").format(used=fmt_bytes(used))
    return _("{used} of {limit}").format(used=fmt_bytes(used), limit=fmt_bytes(limit))


def key_line(key: VPNKey, now: datetime) -> str:
    """One entry of the "My keys" list."""
    return "\n".join(
        (
            f"<b>{esc(key.name)}</b> — {key_status(key, now)}",
            _("Server: {server}").format(server=esc(key.server.name)),
            _("Valid: {expiry}").format(expiry=expiry(key, now)),
            _("Traffic: {usage}").format(usage=usage(key.traffic_used, key.traffic_limit)),
        )
    )


def keys_list(keys: list[VPNKey], now: datetime) -> str:
    """The "My keys" screen."""
    if not keys:
        return _("You have no keys yet.")
    header = "<b>" + _("Your keys") + "</b>"
    return (
        "\n\n".join([header, *(key_line(k, now) for k in keys)])
        + "\n\n"
        + _("Tap a key to see it.")
    )


def key_card(key: VPNKey, now: datetime) -> str:
    """One key in full: status, limits and the copyable access key."""
    return "\n".join(
        (
            key_line(key, now),
            "",
            _("Your access key (tap to copy):"),
            f"<code>{esc(key.access_url or '')}</code>",
        )
    )


def main_menu(first_name: str | None) -> str:
    """The greeting above the main menu."""
    name = esc(first_name or _("there"))
    return _(
        "Hello, {name}! This bot gives you keys for the Outline VPN.\n\nChoose what to do:"
    ).format(name=name)


def connect_steps() -> str:
    """The three steps from a key to a working connection."""
    return "\n".join(
        (
            "<b>" + _("How to connect") + "</b>",
            _("1. Install the Outline client for your device (buttons below)."),
            _("2. Copy your access key (it starts with ss://) from “My keys”."),
            _("3. Open Outline: it offers to add the copied key — tap “Connect”."),
        )
    )


def help_text() -> str:
    """The "How to connect" screen and /help."""
    commands = "\n".join(
        (
            _("/keys — my keys"),
            _("/trial — free trial key"),
            _("/language — change the language"),
            _("/help — this help"),
        )
    )
    return connect_steps() + "\n\n" + commands


def trial_issued(key: VPNKey, now: datetime) -> str:
    """The freshly issued trial key with the connection steps."""
    return "\n\n".join(
        ("🎁 " + _("Your free trial key is ready!"), key_card(key, now), connect_steps())
    )


def trial_used() -> str:
    """The answer to a second trial request."""
    return _("You have already used your free trial. Your keys are under “My keys”.")


def choose_server() -> str:
    """The server choice before a trial key is issued."""
    return _("Choose a server for your trial key:")


def refresh_confirm(key: VPNKey) -> str:
    """The question before a key is replaced."""
    return _(
        "Refresh <b>{name}</b>?\n\nYou get a new access key; the current one stops working "
        "at once. Your expiry date and traffic allowance stay the same."
    ).format(name=esc(key.name))


def rename_prompt(key: VPNKey) -> str:
    """The request for a new key name."""
    return _("Send the new name for <b>{name}</b> (1–100 characters).").format(name=esc(key.name))


def language_prompt() -> str:
    """The language choice."""
    return _("Choose your language:")
