"""The live keys of one server as the ledger reads them: plain rows, not ORM models.

A sync reads every live key of a server; building models for them (every datetime parsed
by the ORM) was most of its CPU. A row carries what the ledger, the quota rule and the server limit
read (the attribute names of ``VPNKey``, so ``rules.settle`` and ``remote.server_limit``
take it as they take a key).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections

from db.models import InactiveReason, KeyState

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


_SELECT = "SELECT " + ", ".join(f'"{name}"' for name in FIELDS) + ' FROM "vpn_keys" WHERE '
# SQLite, without statistics, would search the ``(state, valid_until)`` index (every live key
# of every server) and filter by server; ``+`` leaves it the ``(server, remote_id)`` one.
_BY_SERVER = {
    "postgres": _SELECT + '"server_id" = $1 AND "state" = $2',
    "sqlite": _SELECT + '"server_id" = ? AND +"state" = ?',
}


def as_moment(value: datetime | str | None) -> datetime | None:
    """A timestamp as the driver gives it (SQLite: ISO text) as an aware datetime."""
    if value.__class__ is not str:
        return value  # type: ignore[return-value]
    moment = datetime.fromisoformat(value)  # type: ignore[arg-type]
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def live_rows(server_id: int) -> list[KeyRow]:
    """Every live key of a server, as rows (one plain query; no ORM conversion)."""
    conn = connections.get("default")
    query = _BY_SERVER[conn.capabilities.dialect]
    _, records = await conn.execute_query(query, [server_id, KeyState.LIVE.value])
    reasons: dict[str | None, InactiveReason | None] = {r.value: r for r in InactiveReason}
    reasons[None] = reasons[""] = None
    moment = as_moment
    return [
        KeyRow(key_id, remote_id, used, base, limit, bool(on), reasons[why], moment(until),
               moment(created))
        for key_id, remote_id, used, base, limit, on, why, until, created in records
    ]  # fmt: skip
