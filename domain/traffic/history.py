"""Hourly history of the traffic the ledger counted, to know what leaves Outline's window.

Outline reports a rolling 30-day sum. Between two samples the sum grows by the new
traffic and shrinks by whatever was moved just over 30 days earlier; the counter alone
cannot tell the two apart, so the ledger remembers when it counted each byte (spread
evenly over the interval it was measured in) and looks that up 30 days later.
"""

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from tortoise import connections
from tortoise.expressions import Subquery

from db.models import TrafficBucket, VPNKey
from domain.traffic.rows import as_moment

HOUR = timedelta(hours=1)
WINDOW = timedelta(days=30)
# How far the server's clock may be off ours.
SKEW = HOUR
KEEP = WINDOW + timedelta(days=1)
_CHUNK = 5000
_ON_CONFLICT = (
    'ON CONFLICT ("key_id", "hour") DO UPDATE '
    'SET "bytes" = "traffic_buckets"."bytes" + EXCLUDED."bytes"'
)
_UPSERT_VALUES = 'INSERT INTO "traffic_buckets" ("key_id", "hour", "bytes") VALUES {0} '
_UPSERT_VALUES += _ON_CONFLICT
_UPSERT_ARRAYS = (
    'INSERT INTO "traffic_buckets" ("key_id", "hour", "bytes") '
    "SELECT * FROM unnest($1::int[], $2::timestamptz[], $3::bigint[]) " + _ON_CONFLICT
)
_AGED = (
    'SELECT "key_id", "hour", "bytes" FROM "traffic_buckets" WHERE "key_id" IN '
    '(SELECT "id" FROM "vpn_keys" WHERE "server_id" = {0}) AND "hour" > {1} AND "hour" < {2}'
)

Spread = dict[datetime, int]


def floor_hour(moment: datetime) -> datetime:
    """The start of the hour ``moment`` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    return max(0.0, (min(a_end, b_end) - max(a_start, b_start)).total_seconds())


@lru_cache(maxsize=1024)
def _plan(start: datetime, end: datetime) -> tuple[float, tuple[tuple[datetime, float], ...]]:
    """How ``(start, end]`` splits into hours: its length in seconds and, per hour, the
    seconds covered up to that hour's end — the same for every key sampled over the same
    interval, so worked out once per sync."""
    start = max(start, end - WINDOW)
    total = (end - start).total_seconds()
    if total <= 0:
        return total, ((floor_hour(end), total),)
    hours, hour, covered = [], floor_hour(start), 0.0
    while hour < end:
        covered += _overlap(hour, hour + HOUR, start, end)
        hours.append((hour, covered))
        hour += HOUR
    return total, tuple(hours)


def spread(nbytes: int, start: datetime, end: datetime) -> Spread:
    """``nbytes`` spread evenly over ``(start, end]`` in hourly parts that sum to ``nbytes``."""
    if nbytes <= 0:
        return {}
    first = floor_hour(start)
    if start < end <= first + HOUR:  # within one hour (a new key's first sync, say)
        return {first: nbytes}
    total, hours = _plan(start, end)
    if len(hours) == 1:
        return {hours[0][0]: nbytes}
    parts: Spread = {}
    given = 0
    for hour, covered in hours:
        share = round(nbytes * covered / total) - given
        if share:
            parts[hour] = share
            given += share
    return parts


def spreading(end: datetime) -> Callable[[int, datetime], Spread]:
    """``spread`` for intervals that all end at ``end`` (one sync's): an interval that starts
    in ``end``'s own hour — every key of the sync that is new since it — goes to that hour
    without any date arithmetic."""
    last = floor_hour(end)

    def spread_to_end(nbytes: int, start: datetime) -> Spread:
        if last <= start < end:
            return {last: nbytes} if nbytes > 0 else {}
        return spread(nbytes, start, end)

    return spread_to_end


def _to_db(hours: set[datetime]) -> dict[datetime, object]:
    """Hours as the driver takes them (converted once per distinct hour)."""
    field = TrafficBucket._meta.fields_map["hour"]
    return {hour: field.to_db_value(hour, TrafficBucket) for hour in hours}


async def aged(server_id: int, start: datetime, end: datetime) -> dict[int, int]:
    """Bytes per key id the ledger counted in ``(start, end]`` (estimated hour by hour)."""
    conn = connections.get("default")
    marks = ("$1", "$2", "$3") if conn.capabilities.dialect == "postgres" else ("?",) * 3
    bounds = _to_db({start - HOUR, end})
    _, rows = await conn.execute_query(
        _AGED.format(*marks), [server_id, bounds[start - HOUR], bounds[end]]
    )
    hours: dict[object, datetime] = {}
    estimate: dict[int, float] = defaultdict(float)
    for key_id, stored, nbytes in rows:
        hour = hours.get(stored)
        if hour is None:  # the same few hours over and over: parsed once each
            hour = hours[stored] = as_moment(stored)
        estimate[key_id] += nbytes * _overlap(hour, hour + HOUR, start, end) / 3600
    return {key_id: round(nbytes) for key_id, nbytes in estimate.items()}


async def add(parts: dict[int, Spread]) -> None:
    """Add counted traffic (key id -> hourly parts) to the history: one upsert per chunk of
    rows (PostgreSQL: the rows as arrays; SQLite: a ``VALUES`` list). Call it inside the
    transaction that books the same bytes."""
    hours = _to_db({hour for spread_ in parts.values() for hour in spread_})
    rows = [
        (key_id, hours[hour], nbytes)
        for key_id, spread_ in parts.items()
        for hour, nbytes in spread_.items()
    ]
    conn = connections.get("default")
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if conn.capabilities.dialect == "postgres":
            columns = [list(column) for column in zip(*chunk, strict=True)]
            await conn.execute_query(_UPSERT_ARRAYS, columns)
        else:
            statement = _UPSERT_VALUES.format(", ".join(["(?, ?, ?)"] * len(chunk)))
            await conn.execute_query(statement, [v for row in chunk for v in row])


def _of_server(server_id: int) -> Subquery:
    return Subquery(VPNKey.filter(server_id=server_id).values("id"))


async def forget_before(server_id: int, moment: datetime) -> None:
    """Drop one server's history older than ``moment`` (no sample will look that far back)."""
    await TrafficBucket.filter(key_id__in=_of_server(server_id), hour__lt=moment).delete()


async def forget_keys(server_id: int) -> None:
    """Drop all history of one server's keys, before their rows go (nothing else does)."""
    await TrafficBucket.filter(key_id__in=_of_server(server_id)).delete()
