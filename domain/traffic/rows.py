"""The live keys of one server as the ledger reads them: plain rows, not ORM models.

A sync reads every live key of a server; building models for them (every datetime parsed)
was most of its CPU. A row carries what the ledger, the quota rule and the server limit
read (the attribute names of ``VPNKey``, so ``rules.settle`` and ``remote.server_limit``
take it as they take a key).
"""

from dataclasses import dataclass
from datetime import datetime

from db.models import InactiveReason, KeyState, VPNKey

FIELDS = (
    "id",
    "remote_id",
    "traffic_used",
    "usage_baseline",
    "traffic_limit",
    "is_active",
    "inactive_reason",
    "valid_until",
    "created_at",
)


@dataclass(slots=True)
class KeyRow:
    """One live key, as far as the traffic ledger is concerned."""

    id: int
    remote_id: str
    traffic_used: int
    usage_baseline: int
    traffic_limit: int | None
    is_active: bool
    inactive_reason: InactiveReason | None
    valid_until: datetime | None
    created_at: datetime


async def live_rows(server_id: int) -> list[KeyRow]:
    """Every live key of a server, as rows."""
    query = VPNKey.filter(server_id=server_id, state=KeyState.LIVE).values_list(*FIELDS)
    return [KeyRow(*values) for values in await query]
