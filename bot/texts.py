"""Formatting helpers: every user-facing sentence, translated, with user data HTML-escaped."""

import html
from datetime import datetime

from aiogram.utils.i18n import gettext as _

from bot.formats import fmt_bytes, fmt_date, fmt_left
from db.models import InactiveReason, VPNKey, VPNServer
from domain.keys.rules import is_expired

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


def server_title(server: VPNServer) -> str:
    """The server as users see it: its display title (e.g. "🇩🇪 Frankfurt"), else its name."""
    return server.title or server.name


def server_button(server: VPNServer) -> str:
    """A button choosing the server: its title, else a globe and its name."""
    return server.title or f"🌍 {server.name}"


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
    left = fmt_left(key.valid_until - now)
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
            _("Server: {server}").format(server=esc(server_title(key.server))),
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


def key_card(key: VPNKey, now: datetime, link: str | None = None) -> str:
    """One key in full: status, limits and the copyable access key (its dynamic link if any)."""
    lines = [key_line(key, now), "", _("Your access key (tap to copy):")]
    if link is None:
        return "\n".join([*lines, f"<code>{esc(key.access_url or '')}</code>"])
    hint = _("It keeps working when we move your key to another server.")
    return "\n".join([*lines, f"<code>{esc(link)}</code>", hint])


def static_key(key: VPNKey) -> str:
    """The static ``ss://`` key, for apps that do not take dynamic links."""
    return "\n".join(
        (
            "<b>" + _("Static key of {name}").format(name=esc(key.name)) + "</b>",
            _("For Outline apps before 1.8.1 and other Shadowsocks apps (tap to copy):"),
            f"<code>{esc(key.access_url or '')}</code>",
            _("It stops working if the key moves to another server; the dynamic key does not."),
        )
    )


def qr_caption(key: VPNKey) -> str:
    """The QR picture's caption (plain text): which key, and how to use the code."""
    return f"🔑 {key.name}\n" + _(
        "Open the Outline app on the device you want to connect, tap “+” and scan this code."
    )


def main_menu(first_name: str | None) -> str:
    """The greeting above the main menu."""
    if not first_name:
        return _("Hello! This bot gives you keys for the Outline VPN.\n\nChoose what to do:")
    return _(
        "Hello, {name}! This bot gives you keys for the Outline VPN.\n\nChoose what to do:"
    ).format(name=esc(first_name))


def not_understood() -> str:
    """The answer to a message or command the bot does not know."""
    return _("Sorry, I don't understand that. Use the buttons below or send /help.")


def button_outdated() -> str:
    """The answer to a button that no longer leads anywhere."""
    return _("This button no longer works. Send /start for the menu.")


def answer_the_question() -> str:
    """The answer to an unexpected message while a question is open."""
    return _("Please answer the question above, or send /cancel to leave it.")


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
            _("/buy — buy or extend a key"),
            _("/invite — invite friends"),
            _("/language — change the language"),
            _("/help — this help"),
        )
    )
    return connect_steps() + "\n\n" + commands


def trial_issued(key: VPNKey, now: datetime, link: str | None = None) -> str:
    """The freshly issued trial key with the connection steps."""
    return "\n\n".join(
        ("🎁 " + _("Your free trial key is ready!"), key_card(key, now, link), connect_steps())
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
