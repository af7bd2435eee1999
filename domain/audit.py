"""The audit trail: one row per state change, written inside the change's transaction.

Recording an event also queues what it causes in the outbox (the owner's notice, an
outgoing webhook) in that same transaction, so neither is lost nor sent for a rolled-back
change.
"""

from typing import Any

from tortoise import connections, timezone

from db.models import AuditEvent, VPNKey
from domain.notices import outbox

CLI = "cli"
WORKER = "worker"
_INSERT_MANY = (
    'INSERT INTO "audit_events" ("at", "actor", "action", "details", "key_id", "user_id") '
    'VALUES {0} RETURNING "id", "key_id"'
)


def api_actor(token_name: str) -> str:
    """The actor string for a call made with an API token."""
    return f"api:{token_name}"


def tg_actor(tg_id: int) -> str:
    """The actor string for a Telegram user acting through the bot."""
    return f"tg:{tg_id}"


def event(
    actor: str,
    action: str,
    *,
    key: VPNKey | None = None,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An audit event not saved yet (``record`` saves one; a user's event queues nothing)."""
    if user_id is None and key is not None:
        user_id = key.owner_id
    return AuditEvent(actor=actor, action=action, key=key, user_id=user_id, details=details or {})


async def record(
    actor: str,
    action: str,
    *,
    key: VPNKey | None = None,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event and its outbox rows (call it inside the change's transaction)."""
    return await save(event(actor, action, key=key, user_id=user_id, details=details), key)


async def save(written: AuditEvent, key: VPNKey | None) -> AuditEvent:
    """Write an audit event built by ``event`` and its outbox rows (inside the change's
    transaction)."""
    await written.save()
    if key is not None:
        await outbox.enqueue_for_event(written, key)
    return written


async def record_many(actor: str, events: list[tuple[str, VPNKey]]) -> None:
    """Write one audit event per ``(action, key)`` and all their outbox rows, one insert
    each (a batch of automatic changes; call it inside the batch's transaction)."""
    if not events:
        return
    conn = connections.get("default")
    fields = AuditEvent._meta.fields_map
    at = timezone.now()
    details = fields["details"].to_db_value({}, AuditEvent)
    rows = [(at, actor, action, details, key.id, key.owner_id) for action, key in events]
    if conn.capabilities.dialect == "postgres":
        marks = ", ".join(
            "(" + ", ".join(f"${6 * n + i}" for i in range(1, 7)) + ")" for n in range(len(rows))
        )
    else:
        marks = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(rows))
    values = [value for row in rows for value in row]
    ids = {
        row["key_id"]: row["id"]
        for row in await conn.execute_query_dict(_INSERT_MANY.format(marks), values)
    }
    notices = []
    for action, key in events:
        written = AuditEvent(id=ids[key.id], at=at, actor=actor, action=action, details={})
        written.key_id, written.user_id = key.id, key.owner_id
        notices += await outbox.notices_for_event(written, key)
    await outbox.enqueue(notices)
