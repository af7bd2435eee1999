"""Notices to the admins (server down or back, failover, drains), through the outbox."""

from typing import Any

from db.models import Notice, User
from domain.notices import outbox

SERVER_DOWN = "server_down"
SERVER_UP = "server_up"
FAILOVER = "failover"
DRAIN_DONE = "drain_done"


async def alert_admins(
    admins: frozenset[int], kind: str, payload: dict[str, Any], *, dedup: str
) -> int:
    """Queue one notice per admin who has talked to the bot (call it inside the change's
    transaction); ``dedup`` makes a repeat of the same alert a no-op. Returns how many."""
    known = await User.filter(id__in=sorted(admins)).values_list("id", flat=True)
    rows: list[Notice | None] = [
        Notice(
            channel=outbox.TELEGRAM,
            kind=kind,
            user_id=admin,
            payload=payload,
            dedup_key=f"adm:{dedup}:{admin}",
        )
        for admin in known
    ]
    await outbox.enqueue(rows)
    return len(rows)
