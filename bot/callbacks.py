"""Callback data factories: ids and fixed action names only (Telegram allows 64 bytes).

Ids are bounded like the columns they name (``domain.bounds``): forged data with a
20-digit id matches no button, instead of overflowing a database integer.
"""

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from pydantic import Field

from domain.bounds import MAX_BIG_ID, MAX_ROW_ID, MAX_TG_ID
from domain.keys.user_keys import AUTO_SERVER_ID

RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]
TgId = Annotated[int, Field(ge=1, le=MAX_TG_ID)]
# 0 stands for "none yet" where a default says so.
OptionalRowId = Annotated[int, Field(ge=0, le=MAX_ROW_ID)]
OptionalBigId = Annotated[int, Field(ge=0, le=MAX_BIG_ID)]
# A server id, or AUTO_SERVER_ID (the least loaded server); 0 as above where it has a meaning.
ServerChoice = Annotated[int, Field(ge=AUTO_SERVER_ID, le=MAX_ROW_ID)]


class MenuAction(StrEnum):
    """Main-menu destinations."""

    HOME = "home"
    KEYS = "keys"
    TRIAL = "trial"
    HELP = "help"
    LANGUAGE = "lang"
    BUY = "buy"
    INVITE = "invite"


class KeyAction(StrEnum):
    """What a button on a user's key card does."""

    SHOW = "show"
    QR = "qr"
    REFRESH = "refresh"
    REFRESH_OK = "refresh_ok"
    RENAME = "rename"
    STATIC = "static"
    RENEW_OFF = "renew_off"
    RENEW_ON = "renew_on"


class AdminAction(StrEnum):
    """Admin-panel destinations."""

    MENU = "menu"
    STATS = "stats"
    FIND = "find"
    HEALTH = "health"
    BROADCAST = "broadcast"
    CANCEL = "cancel"
    REVENUE = "revenue"


class AdminKeyAction(StrEnum):
    """What an admin can do to any key."""

    SHOW = "show"
    EXTEND_7 = "ext7"
    EXTEND_30 = "ext30"
    LIMIT = "limit"
    ENABLE = "on"
    DISABLE = "off"
    REFRESH = "refresh"
    DELETE = "del"
    DELETE_OK = "del_ok"
    MOVE = "move"


class BroadcastAction(StrEnum):
    """Steps of a broadcast after its preview."""

    SEND = "send"
    CANCEL = "cancel"
    PROGRESS = "progress"


class BuyAction(StrEnum):
    """Steps of buying: plans, a plan's targets, a server for a new key, summary, pay."""

    PLANS = "plans"
    PLAN = "plan"
    NEW = "new"
    GO = "go"
    PAY = "pay"


class AdminPaymentAction(StrEnum):
    """What an admin can do to a payment."""

    REFUND = "refund"
    REFUND_OK = "refund_ok"


class MenuCB(CallbackData, prefix="m"):
    """A main-menu button."""

    action: MenuAction


class KeyCB(CallbackData, prefix="k"):
    """A button on one of the user's own keys."""

    action: KeyAction
    key_id: RowId


class TrialCB(CallbackData, prefix="t"):
    """The server chosen for the free trial."""

    server_id: ServerChoice


class LanguageCB(CallbackData, prefix="l"):
    """The interface language chosen."""

    code: str


class AdminCB(CallbackData, prefix="a"):
    """An admin-panel button."""

    action: AdminAction


class AdminUserCB(CallbackData, prefix="au"):
    """Show a user in the admin panel."""

    user_id: TgId


class AdminIssueCB(CallbackData, prefix="ai"):
    """Issue a new key to a user; ``server_id`` 0 means "choose a server first"."""

    user_id: TgId
    server_id: ServerChoice = 0


class AdminKeyCB(CallbackData, prefix="ak"):
    """An admin action on any key."""

    action: AdminKeyAction
    key_id: RowId


class AdminMoveCB(CallbackData, prefix="am"):
    """Move a key to the server with id ``server_id`` (0: the least loaded one)."""

    key_id: RowId
    server_id: OptionalRowId = 0


class ServerAction(StrEnum):
    """What an admin can do to a server from the health screen."""

    DRAIN = "drain"
    DRAIN_OK = "drain_ok"


class AdminServerCB(CallbackData, prefix="as"):
    """An admin action on one server."""

    action: ServerAction
    server_id: RowId


class BroadcastCB(CallbackData, prefix="b"):
    """Confirm, cancel or follow a broadcast."""

    action: BroadcastAction
    broadcast_id: OptionalBigId = 0


class BuyCB(CallbackData, prefix="p"):
    """A step of buying; ``key_id`` is the key to extend, ``server_id`` a new key's server."""

    action: BuyAction
    plan_id: OptionalRowId = 0
    key_id: OptionalRowId = 0
    server_id: OptionalRowId = 0


class AdminPaymentCB(CallbackData, prefix="ap"):
    """An admin action on a payment."""

    action: AdminPaymentAction
    payment_id: RowId
