"""Inline keyboards of the admin panel."""

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.callbacks import (
    AdminAction,
    AdminCB,
    AdminIssueCB,
    AdminKeyAction,
    AdminKeyCB,
    AdminMoveCB,
    AdminPaymentAction,
    AdminPaymentCB,
    AdminServerCB,
    AdminUserCB,
    BroadcastAction,
    BroadcastCB,
    ServerAction,
)
from bot.texts import server_button
from db.models import InactiveReason, PaymentState, VPNKey, VPNServer
from domain.keys.user_keys import AUTO_SERVER_ID, UserOverview
from domain.servers.registry import ServerHealth

REFUND_BUTTONS = 5  # the newest payments get a refund button on the user's card
REFUNDABLE = (PaymentState.RECEIVED, PaymentState.APPLIED)


def _back(builder: InlineKeyboardBuilder, callback_data: AdminCB | AdminUserCB) -> None:
    back = InlineKeyboardButton(text="« " + _("Back"), callback_data=callback_data.pack())
    builder.row(back)


def menu() -> InlineKeyboardMarkup:
    """Statistics · Find a user · Server health · Broadcast."""
    builder = InlineKeyboardBuilder()
    builder.button(text="📊 " + _("Statistics"), callback_data=AdminCB(action=AdminAction.STATS))
    builder.button(text="🔎 " + _("Find a user"), callback_data=AdminCB(action=AdminAction.FIND))
    builder.button(
        text="🩺 " + _("Server health"), callback_data=AdminCB(action=AdminAction.HEALTH)
    )
    builder.button(
        text="📣 " + _("Broadcast"), callback_data=AdminCB(action=AdminAction.BROADCAST)
    )
    builder.button(text="💰 " + _("Revenue"), callback_data=AdminCB(action=AdminAction.REVENUE))
    builder.adjust(2)
    return builder.as_markup()


def back_to_menu() -> InlineKeyboardMarkup:
    """Back to the admin panel."""
    builder = InlineKeyboardBuilder()
    _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def refresh_back(section: AdminAction) -> InlineKeyboardMarkup:
    """Update this section again · Back."""
    builder = InlineKeyboardBuilder()
    builder.button(text="🔄 " + _("Update"), callback_data=AdminCB(action=section))
    _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def health(report: list[ServerHealth]) -> InlineKeyboardMarkup:
    """Drain each enabled server that holds keys · Update · Back."""
    builder = InlineKeyboardBuilder()
    for h in report:
        if h.is_active and h.live_keys and not h.draining:
            builder.button(
                text="🚚 " + _("Drain {server}").format(server=h.name),
                callback_data=AdminServerCB(action=ServerAction.DRAIN, server_id=h.server_id),
            )
    builder.button(text="🔄 " + _("Update"), callback_data=AdminCB(action=AdminAction.HEALTH))
    builder.adjust(1)
    _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def drain_confirm(server_id: int) -> InlineKeyboardMarkup:
    """Yes, drain · Cancel (back to the health screen)."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="✅ " + _("Yes, drain"),
        callback_data=AdminServerCB(action=ServerAction.DRAIN_OK, server_id=server_id),
    )
    builder.button(text=_("Cancel"), callback_data=AdminCB(action=AdminAction.HEALTH))
    return builder.as_markup()


def cancel() -> InlineKeyboardMarkup:
    """Cancel the question and return to the admin panel."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Cancel"), callback_data=AdminCB(action=AdminAction.CANCEL))
    return builder.as_markup()


def user_card(overview: UserOverview) -> InlineKeyboardMarkup:
    """One button per key, Issue a key, Back."""
    builder = InlineKeyboardBuilder()
    for key in overview.keys:
        builder.button(
            text=f"🔑 #{key.id} {key.name}",
            callback_data=AdminKeyCB(action=AdminKeyAction.SHOW, key_id=key.id),
        )
    builder.button(
        text="➕ " + _("Issue a key"), callback_data=AdminIssueCB(user_id=overview.user.id)
    )
    for payment in overview.payments[:REFUND_BUTTONS]:
        if payment.state in REFUNDABLE:
            data = AdminPaymentCB(action=AdminPaymentAction.REFUND, payment_id=payment.id)
            builder.button(text="↩️ " + _("Refund #{id}").format(id=payment.id), callback_data=data)
    builder.adjust(1)
    _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def plus_days(days: int) -> str:
    """The button adding ``days`` to a key: ``+1 day``, ``+7 days``…"""
    return ngettext("+{n} day", "+{n} days", days).format(n=days)


def key_card(key: VPNKey) -> InlineKeyboardMarkup:
    """+7 / +30 days · Limit · Enable or Disable · Refresh · Delete · Back to the owner."""
    builder = InlineKeyboardBuilder()

    def button(text: str, action: AdminKeyAction) -> None:
        builder.button(text=text, callback_data=AdminKeyCB(action=action, key_id=key.id))

    for days, action in ((7, AdminKeyAction.EXTEND_7), (30, AdminKeyAction.EXTEND_30)):
        button(plus_days(days), action)
    button("📏 " + _("Set limit"), AdminKeyAction.LIMIT)
    if key.inactive_reason == InactiveReason.MANUAL:
        button("▶️ " + _("Enable"), AdminKeyAction.ENABLE)
    else:
        button("⏸ " + _("Disable"), AdminKeyAction.DISABLE)
    button("🔄 " + _("Refresh"), AdminKeyAction.REFRESH)
    button("🗑 " + _("Delete"), AdminKeyAction.DELETE)
    button("🚚 " + _("Move to another server"), AdminKeyAction.MOVE)
    builder.adjust(2, 2, 2, 1)
    if key.owner_id is not None:
        _back(builder, AdminUserCB(user_id=key.owner_id))
    else:
        _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def delete_confirm(key: VPNKey) -> InlineKeyboardMarkup:
    """Yes, delete · Cancel."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="🗑 " + _("Yes, delete"),
        callback_data=AdminKeyCB(action=AdminKeyAction.DELETE_OK, key_id=key.id),
    )
    builder.button(
        text=_("Cancel"), callback_data=AdminKeyCB(action=AdminKeyAction.SHOW, key_id=key.id)
    )
    return builder.as_markup()


def key_cancel(key_id: int) -> InlineKeyboardMarkup:
    """Cancel a question about a key and return to its card."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Cancel"), callback_data=AdminKeyCB(action=AdminKeyAction.SHOW, key_id=key_id)
    )
    return builder.as_markup()


def back_to_user(user_id: int | None) -> InlineKeyboardMarkup:
    """Back to a user's card (or to the panel for an unbound key)."""
    builder = InlineKeyboardBuilder()
    _back(builder, AdminUserCB(user_id=user_id) if user_id else AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def issue_servers(user_id: int, servers: list[VPNServer]) -> InlineKeyboardMarkup:
    """One button per active server for a new key."""
    builder = InlineKeyboardBuilder()
    for server in servers:
        builder.button(
            text=server_button(server),
            callback_data=AdminIssueCB(user_id=user_id, server_id=server.id),
        )
    auto = AdminIssueCB(user_id=user_id, server_id=AUTO_SERVER_ID)
    builder.button(text="⚖️ " + _("Least loaded server"), callback_data=auto)
    builder.adjust(1)
    _back(builder, AdminUserCB(user_id=user_id))
    return builder.as_markup()


def move_targets(key: VPNKey, servers: list[VPNServer]) -> InlineKeyboardMarkup:
    """One button per other active server, the least loaded one, and Cancel."""
    builder = InlineKeyboardBuilder()
    for server in servers:
        if server.id != key.server_id:
            builder.button(
                text=f"🌍 {server.name}",
                callback_data=AdminMoveCB(key_id=key.id, server_id=server.id),
            )
    builder.button(text="⚖️ " + _("Least loaded server"), callback_data=AdminMoveCB(key_id=key.id))
    builder.button(
        text=_("Cancel"), callback_data=AdminKeyCB(action=AdminKeyAction.SHOW, key_id=key.id)
    )
    builder.adjust(1)
    return builder.as_markup()


def broadcast_confirm() -> InlineKeyboardMarkup:
    """Send to everyone · Cancel."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="📣 " + _("Send to everyone"),
        callback_data=BroadcastCB(action=BroadcastAction.SEND),
    )
    builder.button(text=_("Cancel"), callback_data=BroadcastCB(action=BroadcastAction.CANCEL))
    return builder.as_markup()


def broadcast_progress(broadcast_id: int) -> InlineKeyboardMarkup:
    """Update the delivery counts · Back."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text="🔄 " + _("Update"),
        callback_data=BroadcastCB(action=BroadcastAction.PROGRESS, broadcast_id=broadcast_id),
    )
    _back(builder, AdminCB(action=AdminAction.MENU))
    return builder.as_markup()


def refund_confirm(user_id: int, payment_id: int) -> InlineKeyboardMarkup:
    """Yes, refund · Cancel (back to the user)."""
    builder = InlineKeyboardBuilder()
    data = AdminPaymentCB(action=AdminPaymentAction.REFUND_OK, payment_id=payment_id)
    builder.button(text="↩️ " + _("Yes, refund"), callback_data=data)
    builder.button(text=_("Cancel"), callback_data=AdminUserCB(user_id=user_id))
    return builder.as_markup()
