"""Notices to the admins: a server went down or came back, a failover, a finished drain."""

from datetime import datetime, timedelta
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import AdminAction, AdminCB
from bot.formats import fmt_date, fmt_duration
from bot.texts import esc
from domain.servers import alerts

KINDS = frozenset({alerts.SERVER_DOWN, alerts.SERVER_UP, alerts.FAILOVER, alerts.DRAIN_DONE})


def _since(payload: dict[str, Any]) -> str:
    raw = payload.get("since")
    return fmt_date(datetime.fromisoformat(str(raw))) if raw else "?"


def _moved(payload: dict[str, Any]) -> tuple[int, str]:
    moved: dict[str, int] = payload.get("moved") or {}
    where = ", ".join(f"{esc(name)} {n}" for name, n in sorted(moved.items())) or "—"
    return sum(moved.values()), where


def admin_notice_text(kind: str, payload: dict[str, Any]) -> str:
    """The message of one admin notice."""
    server = f"<b>{esc(str(payload.get('server', '?')))}</b>"
    if kind == alerts.SERVER_DOWN:
        live = int(payload.get("live_keys") or 0)
        return "🔴 " + ngettext(
            "Server {server} is not answering since {since}; {n} live key is on it.",
            "Server {server} is not answering since {since}; {n} live keys are on it.",
            live,
        ).format(server=server, since=_since(payload), n=live)
    if kind == alerts.SERVER_UP:
        down_for = fmt_duration(timedelta(seconds=float(payload.get("down_for") or 0)))
        return "🟢 " + _("Server {server} answers again (down for {duration}).").format(
            server=server, duration=down_for
        )
    moved, where = _moved(payload)
    left, failed = int(payload.get("left") or 0), int(payload.get("failed") or 0)
    if kind == alerts.FAILOVER:
        text = ngettext(
            "Failover: {n} key of {server} moved to healthy servers ({where}).",
            "Failover: {n} keys of {server} moved to healthy servers ({where}).",
            moved,
        )
    else:
        text = ngettext(
            "Drain of {server} finished: {n} key moved ({where}).",
            "Drain of {server} finished: {n} keys moved ({where}).",
            moved,
        )
    text = "🚚 " + text.format(n=moved, server=server, where=where)
    if left or failed:
        text += " " + _("Failed: {failed}; still on it: {left}.").format(failed=failed, left=left)
    return text


def admin_notice_markup() -> InlineKeyboardMarkup:
    """A button to the server health screen."""
    builder = InlineKeyboardBuilder()
    health = AdminCB(action=AdminAction.HEALTH)
    builder.button(text="🩺 " + _("Server health"), callback_data=health)
    return builder.as_markup()
