"""The persistent outbox: user notices and webhook events, written with the change itself.

Rows are inserted in the caller's transaction, so a notice exists exactly when its change
was committed; ``dedup_key`` (unique) makes a repeated enqueue of the same notice a no-op.
"""

from datetime import UTC, datetime
from typing import Any

from db.models import AuditEvent, Notice, VPNKey, VPNServer

TELEGRAM = "telegram"
WEBHOOK = "webhook"

# Telegram notice kinds (the bot renders each in the user's language).
EXPIRES_3D = "expires_3d"
EXPIRES_1D = "expires_1d"
EXPIRED = "expired"
TRAFFIC_80 = "traffic_80"
QUOTA_REACHED = "quota_reached"
KEY_REOPENED = "key_reopened"
BROADCAST = "broadcast"
# Changes made by someone other than the owner (API, admin), by audit action.
CHANGE_KINDS = {
    "key.created": "key_created",
    "key.bound": "key_created",
    "key.extended": "key_extended",
    "key.limit_changed": "key_limit_changed",
    "key.disabled": "key_disabled",
    "key.enabled": "key_enabled",
    "key.refreshed": "key_refreshed",
    "key.deleted": "key_deleted",
    "key.moved": "key_moved",
}
# Rule transitions: the owner hears of them whoever caused them.
RULE_KINDS = {
    "key.expired": EXPIRED,
    "key.quota_reached": QUOTA_REACHED,
    "key.reopened": KEY_REOPENED,
}
WEBHOOK_EVENTS = frozenset(
    {
        "key.created",
        "key.expired",
        "key.quota_reached",
        "key.refreshed",
        "key.deleted",
        "payment.succeeded",
        "payment.refunded",
    }
)

_settings = {"webhooks": False}


def configure(*, webhooks: bool) -> None:
    """Whether audit events also enqueue outgoing webhooks (set once by the composition root)."""
    _settings["webhooks"] = webhooks


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with ``Z`` (``None`` stays ``None``)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def server_name(key: VPNKey) -> str:
    """The name of the key's server, loading it only when the relation is not loaded."""
    server = key.server
    if not isinstance(server, VPNServer):
        server = key.server = await VPNServer.get(id=key.server_id)
    return server.name


def key_payload(key: VPNKey, server: str) -> dict[str, Any]:
    """What a notice says about a key; never the access URL."""
    reason = key.inactive_reason
    return {
        "key_id": key.id,
        "key_name": key.name,
        "server": server,
        "tg_id": key.owner_id,
        "is_demo": key.is_demo,
        "is_active": key.is_active,
        "inactive_reason": None if reason is None else str(reason),
        "valid_until": iso(key.valid_until),
        "traffic_limit": key.traffic_limit,
        "traffic_used": key.traffic_used,
        "previous_id": key.previous_id,
    }


def telegram_notice(
    kind: str, key: VPNKey, server: str, *, dedup_key: str, **extra: Any
) -> Notice | None:
    """An unsaved notice to the key's owner (``None`` for a key nobody owns)."""
    if key.owner_id is None:
        return None
    payload = key_payload(key, server) | extra
    if isinstance(key.server, VPNServer) and key.server.title:
        payload["server_title"] = key.server.title  # what the owner is shown
    return Notice(
        channel=TELEGRAM,
        kind=kind,
        user_id=key.owner_id,
        key_id=key.id,
        payload=payload,
        dedup_key=dedup_key,
    )


async def enqueue(notices: list[Notice | None]) -> None:
    """Insert notices, silently skipping any whose ``dedup_key`` is already queued."""
    rows = [n for n in notices if n is not None]
    if rows:
        await Notice.bulk_create(rows, ignore_conflicts=True)


def _rule_dedup(kind: str, key: VPNKey, event: AuditEvent) -> str:
    # Once per expiry date / per limit and period, however often the sweep looks at the key.
    if kind == KEY_REOPENED:
        return f"tg:ev:{event.id}"
    if kind == EXPIRED:
        stamp = int(key.valid_until.timestamp()) if key.valid_until else 0
    else:
        period = int(key.period_started_at.timestamp()) if key.period_started_at else 0
        stamp = f"{key.traffic_limit}:{period}"
    return f"tg:{kind}:{key.id}:{stamp}"


async def enqueue_for_event(event: AuditEvent, key: VPNKey) -> None:
    """Queue the notices an audit event about ``key`` causes (called by ``audit.record``)."""
    await enqueue(await notices_for_event(event, key))


def _wanted(event: AuditEvent, key: VPNKey) -> tuple[bool, bool]:
    """Whether the event tells the key's owner in Telegram, and whether a webhook."""
    action = event.action
    wanted_tg = action in RULE_KINDS or (
        action in CHANGE_KINDS and event.actor != f"tg:{key.owner_id}"
    )
    return wanted_tg and key.owner_id is not None, _settings["webhooks"] and (
        action in WEBHOOK_EVENTS
    )


def causes_notices(event: AuditEvent, key: VPNKey) -> bool:
    """Whether recording ``event`` about ``key`` queues anything in the outbox."""
    return any(_wanted(event, key))


async def notices_for_event(event: AuditEvent, key: VPNKey) -> list[Notice | None]:
    """The notices an audit event about ``key`` causes, not yet queued."""
    action = event.action
    wanted_tg, wanted_hook = _wanted(event, key)
    if not (wanted_tg or wanted_hook):
        return []
    server = await server_name(key)
    rows: list[Notice | None] = []
    if wanted_tg and action in RULE_KINDS:
        kind = RULE_KINDS[action]
        rows.append(telegram_notice(kind, key, server, dedup_key=_rule_dedup(kind, key, event)))
    elif wanted_tg:
        rows.append(
            telegram_notice(CHANGE_KINDS[action], key, server, dedup_key=f"tg:ev:{event.id}")
        )
    if wanted_hook:
        body = {
            "event": action,
            "occurred_at": iso(event.at),
            "actor": event.actor,
            "key": key_payload(key, server),
        }
        if "payment" in event.details:  # payment events carry the payment itself
            body["payment"] = event.details["payment"]
        dedup = f"wh:{event.id}"
        rows.append(
            Notice(channel=WEBHOOK, kind=action, key_id=key.id, payload=body, dedup_key=dedup)
        )
    return rows
