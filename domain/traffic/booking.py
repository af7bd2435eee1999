"""Writing a sync's samples: one conditional ``UPDATE`` per chunk that says what it wrote.

Each row is updated only if it still holds the figures the sample was computed from and is
still the copy on the sampled server (a key moved, refreshed or deleted meanwhile is left
alone: the next sync samples it again). The statement returns the ids it wrote — one round
trip per chunk, no read-back — so the 80 % notices go exactly to the keys this sync booked.
"""

from collections.abc import Callable

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from db.models import KeyState, VPNKey, VPNServer
from domain.notices import outbox
from domain.traffic import history
from domain.traffic.history import Spread
from domain.traffic.sampling import Sample, crossed_80, notice_at_80

_SET = 'SET "traffic_used" = v.used, "usage_baseline" = v.base'
_MATCH = (
    'k."id" = v.id AND k."remote_id" = v.remote_id AND k."traffic_used" = v.was_used '
    'AND k."usage_baseline" = v.was_base AND k."server_id" = {0} AND k."state" = {1}'
)
# PostgreSQL: the chunk as arrays, one prepared statement whatever its size. The server and
# state are columns of the chunk too, so every condition joins on it: a plan made before the
# table's statistics (a generic or early one) cannot scan the server's keys once per row.
_POSTGRES = (
    f'UPDATE "vpn_keys" AS k {_SET} FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], '
    "$4::bigint[], $5::bigint[], $6::text[], $7::int[], $8::text[]) AS v(id, used, base, "
    "was_used, was_base, remote_id, server_id, state) "
    f'WHERE {_MATCH.format("v.server_id", "v.state")} RETURNING k."id"'
)
# SQLite (>= 3.35): the chunk as a VALUES list.
_SQLITE = (
    f'UPDATE "vpn_keys" AS k {_SET} FROM (SELECT column1 AS id, column2 AS used, '
    "column3 AS base, column4 AS was_used, column5 AS was_base, column6 AS remote_id "
    f'FROM (VALUES {{rows}})) AS v WHERE {_MATCH.format("?", "?")} RETURNING "id"'
)


async def _update(conn: BaseDBAsyncClient, srv: VPNServer, samples: list[Sample]) -> set[int]:
    keys = [s.key for s in samples]
    if conn.capabilities.dialect == "postgres":
        each = len(keys)
        values = [
            [k.id for k in keys],
            [k.traffic_used + s.counted for k, s in zip(keys, samples, strict=True)],
            [s.baseline for s in samples],
            [k.traffic_used for k in keys],
            [k.usage_baseline for k in keys],
            [k.remote_id for k in keys],
            [srv.id] * each,
            [KeyState.LIVE.value] * each,
        ]
        statement = _POSTGRES
    else:
        values = [
            v
            for k, s in zip(keys, samples, strict=True)
            for v in (
                k.id, k.traffic_used + s.counted, s.baseline, k.traffic_used, k.usage_baseline,
                k.remote_id,
            )
        ]  # fmt: skip
        values += [srv.id, KeyState.LIVE.value]
        statement = _SQLITE.format(rows=", ".join(["(?, ?, ?, ?, ?, ?)"] * len(keys)))
    # (``execute_query`` on asyncpg drops what an ``UPDATE`` returns.)
    return {row["id"] for row in await conn.execute_query_dict(statement, values)}


async def write(
    srv: VPNServer, samples: list[Sample], hours: Callable[[Sample], Spread] | None = None
) -> set[int]:
    """Book a chunk of samples in one transaction; the ids of the keys actually written
    (their rows' ``traffic_used`` and ``usage_baseline`` are updated in place). With
    ``hours``, each written sample's bytes go to the hourly history in the same transaction,
    spread as ``hours`` says."""
    async with in_transaction() as conn:
        written = await _update(conn, srv, samples)
        before, spreads = {}, {}
        for sample in samples:
            key, used_before = sample.key, sample.key.traffic_used
            if key.id not in written:
                continue
            key.traffic_used, key.usage_baseline = used_before + sample.counted, sample.baseline
            if hours is not None:
                spreads[key.id] = hours(sample)
            if crossed_80(key.traffic_limit, used_before, key.traffic_used):
                before[key.id] = used_before
        await history.add(spreads)
        if before:
            keys = await VPNKey.filter(id__in=list(before))
            await outbox.enqueue([notice_at_80(k, srv.name, before[k.id]) for k in keys])
    return written
