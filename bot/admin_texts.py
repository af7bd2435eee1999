"""Formatting of the admin panel: statistics, server health, a user and their keys."""

from datetime import datetime

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot import money_texts
from bot.formats import fmt_bytes, fmt_date
from bot.texts import esc, expiry, key_status, server_title, usage
from db.models import VPNKey
from domain.keys.user_keys import UserOverview
from domain.notices.broadcasts import BroadcastProgress
from domain.servers.registry import ServerHealth
from domain.servers.stats import Stats

PAYMENT_LINES = 10  # the newest payments shown on a user's card


def menu() -> str:
    """The admin panel's title."""
    return "<b>" + _("Admin panel") + "</b>\n" + _("Choose a section:")


def stats(figures: Stats) -> str:
    """Users, live keys per server and traffic."""
    lines = [
        "<b>" + _("Statistics") + "</b>",
        _("Users: {n} (blocked the bot: {blocked}, took the trial: {trial})").format(
            n=figures.users, blocked=figures.blocked_users, trial=figures.trial_users
        ),
        _("Live keys: {n} (active: {active})").format(
            n=figures.live_keys, active=figures.active_keys
        ),
        _("Traffic of live keys: {traffic}").format(traffic=fmt_bytes(figures.traffic_used)),
        "",
    ]
    for s in figures.servers:
        state = "" if s.is_active else " (" + _("disabled") + ")"
        keys = ngettext(
            "{n} key, {active} active", "{n} keys, {active} active", s.live_keys
        ).format(n=s.live_keys, active=s.active_keys)
        lines.append(f"{_labelled(s.name, s.title)}{state}: {keys}, {fmt_bytes(s.traffic_used)}")
    if not figures.servers:
        lines.append(_("No servers registered."))
    return "\n".join(lines)


def health(report: list[ServerHealth]) -> str:
    """Reachability, key counts and latency of every server."""
    lines = ["<b>" + _("Server health") + "</b>"]
    for h in report:
        state = "" if h.is_active else " (" + _("disabled") + ")"
        live = ngettext("{n} live key here", "{n} live keys here", h.live_keys)
        live = live.format(n=h.live_keys)
        if h.draining:
            state += " — " + _("being drained")
        if h.down_since is not None:
            state += " — " + _("down since {date}").format(date=fmt_date(h.down_since))
        if h.reachable:
            remote = h.remote_keys or 0
            on_server = ngettext("{n} key on the server", "{n} keys on the server", remote)
            detail = _("reachable, {ms} ms, {remote}, {live}").format(
                ms=round(h.latency_ms or 0), remote=on_server.format(n=remote), live=live
            )
            lines.append(f"🟢 {_labelled(h.name, h.title)}{state}: {detail}")
        else:
            detail = _("unreachable ({error}), {live}").format(
                error=esc(h.error or "?"), live=live
            )
            lines.append(f"🔴 {_labelled(h.name, h.title)}{state}: {detail}")
    if not report:
        lines.append(_("No servers registered."))
    return "\n".join(lines)


def drain_confirm(server: str, live_keys: int) -> str:
    """The question before a server is drained."""
    return ngettext(
        "Drain <b>{server}</b>? It is disabled at once and its {n} live key moves to the "
        "other active servers (same key, same dynamic link).",
        "Drain <b>{server}</b>? It is disabled at once and its {n} live keys move to the "
        "other active servers (same keys, same dynamic links).",
        live_keys,
    ).format(server=esc(server), n=live_keys)


def drain_started(name: str) -> str:
    """The answer once a drain is requested."""
    return "⏳ " + _(
        "Draining <b>{server}</b>: the worker is moving its keys now. You get a message when "
        "it is done."
    ).format(server=esc(name))


def user_card(overview: UserOverview, now: datetime) -> str:
    """A user's profile and a one-line summary of each live key."""
    user = overview.user
    name = " ".join(part for part in (user.first_name, user.last_name) if part) or "—"
    lines = [
        f"<b>{esc(name)}</b> (<code>{user.id}</code>)",
        _("Username: {username}").format(
            username="@" + esc(user.username) if user.username else "—"
        ),
        _("Language: {code}").format(code=esc(user.language_code or "—")),
        _("Registered: {date}").format(date=fmt_date(user.created_at)),
        _("Trial: {state}").format(
            state=_("taken on {date}").format(date=fmt_date(user.demo_issued_at))
            if user.demo_issued_at
            else _("not taken")
        ),
    ]
    if user.bot_blocked_at:
        lines.append(
            "⛔ " + _("Blocked the bot on {date}").format(date=fmt_date(user.bot_blocked_at))
        )
    lines.append("")
    if not overview.keys:
        lines.append(_("No live keys."))
    for key in overview.keys:
        lines.append(f"#{key.id} <b>{esc(key.name)}</b> — {key_status(key, now)}")
    lines += money_texts.payments(overview.payments[:PAYMENT_LINES])
    return "\n".join(lines)


def key_card(key: VPNKey, now: datetime, link: str | None = None) -> str:
    """Everything about one key, for an admin (its dynamic link too, when it has one)."""
    lines = [
        f"#{key.id} <b>{esc(key.name)}</b> — {key_status(key, now)}",
        _("Owner: {owner}").format(owner=key.owner_id or "—"),
        _("Server: {server}").format(server=_server(key)),
        _("Valid: {expiry}").format(expiry=expiry(key, now)),
        _("Traffic: {usage}").format(usage=usage(key.traffic_used, key.traffic_limit)),
        _("Trial key: {yes}").format(yes=_("yes") if key.is_demo else _("no")),
    ]
    if link is not None:
        lines.append(_("Dynamic key:") + f" <code>{esc(link)}</code>")
    lines.append(f"<code>{esc(key.access_url or '')}</code>")
    return "\n".join(lines)


def _server(key: VPNKey) -> str:
    """The key's server: the title users see and the name the CLI and the API use."""
    name = esc(key.server.name)
    return name if not key.server.title else f"{esc(server_title(key.server))} ({name})"


def _labelled(name: str, title: str | None) -> str:
    """A server in a list: its name in bold, after the title users see when it has one."""
    return f"<b>{esc(name)}</b>" if not title else f"{esc(title)} (<b>{esc(name)}</b>)"


def limit_prompt(key: VPNKey) -> str:
    """The request for a new traffic limit."""
    return _(
        "Send the new traffic limit of #{id} in GB (for example 50), or “-” for no limit."
    ).format(id=key.id)


def broadcast_progress(broadcast_id: int, progress: BroadcastProgress) -> str:
    """Delivered, failed and waiting counts of one broadcast."""
    total = progress.delivered + progress.failed + progress.pending
    lines = [
        "<b>" + _("Broadcast #{id}").format(id=broadcast_id) + "</b>",
        _("Recipients: {n}").format(n=total),
        _("Delivered: {n}").format(n=progress.delivered),
        _("Failed or blocked: {n}").format(n=progress.failed),
        _("Waiting: {n}").format(n=progress.pending),
    ]
    return "\n".join(lines)
