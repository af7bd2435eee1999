"""Hourly history of the traffic the ledger counted, to know what leaves Outline's window.

Outline reports a rolling 30-day sum. Between two samples the sum grows by the new
traffic and shrinks by whatever was moved just over 30 days earlier; the counter alone
cannot tell the two apart, so the ledger remembers when it counted each byte (spread
evenly over the interval it was measured in) and looks that up 30 days later.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from tortoise import connections
from tortoise.expressions import Subquery

from db.models import TrafficBucket, VPNKey

HOUR = timedelta(hours=1)
WINDOW = timedelta(days=30)
# How far the server's clock may be off ours.
SKEW = HOUR
KEEP = WINDOW + timedelta(days=1)
_CHUNK = 5000
_UPSERT = (
    'INSERT INTO "traffic_buckets" ("key_id", "hour", "bytes") VALUES ({0}, {1}, {2}) '
    'ON CONFLICT ("key_id", "hour") DO UPDATE '
    'SET "bytes" = "traffic_buckets"."bytes" + EXCLUDED."bytes"'
)

Spread = dict[datetime, int]


def floor_hour(moment: datetime) -> datetime:
    """The start of the hour ``moment`` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def _overlap(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime) -> float:
    return max(0.0, (min(a_end, b_end) - max(a_start, b_start)).total_seconds())


def spread(nbytes: int, start: datetime, end: datetime) -> Spread:
    """``nbytes`` spread evenly over ``(start, end]`` in hourly parts that sum to ``nbytes``."""
    start = max(start, end - WINDOW)
    total = (end - start).total_seconds()
    if nbytes <= 0:
        return {}
    if total <= 0:
        return {floor_hour(end): nbytes}
    parts: Spread = {}
    hour, covered, given = floor_hour(start), 0.0, 0
    while hour < end:
        covered += _overlap(hour, hour + HOUR, start, end)
        share = round(nbytes * covered / total) - given
        if share:
            parts[hour] = share
            given += share
        hour += HOUR
    return parts


async def aged(server_id: int, start: datetime, end: datetime) -> dict[int, int]:
    """Bytes per key id the ledger counted in ``(start, end]`` (estimated hour by hour)."""
    rows = await TrafficBucket.filter(
        key_id__in=Subquery(VPNKey.filter(server_id=server_id).values("id")),
        hour__gt=start - HOUR,
        hour__lt=end,
    )
    estimate: dict[int, float] = defaultdict(float)
    for row in rows:
        estimate[row.key_id] += row.bytes * _overlap(row.hour, row.hour + HOUR, start, end) / 3600
    return {key_id: round(nbytes) for key_id, nbytes in estimate.items()}


async def add(parts: dict[int, Spread]) -> None:
    """Add counted traffic (key id -> hourly parts) to the history, one upsert per row."""
    hour_field = TrafficBucket._meta.fields_map["hour"]
    rows = [
        (key_id, hour_field.to_db_value(hour, TrafficBucket), nbytes)
        for key_id, spread_ in parts.items()
        for hour, nbytes in spread_.items()
    ]
    if not rows:
        return
    conn = connections.get("default")
    marks = ["$1", "$2", "$3"] if conn.capabilities.dialect == "postgres" else ["?"] * 3
    statement = _UPSERT.format(*marks)
    for start in range(0, len(rows), _CHUNK):
        await conn.execute_many(statement, rows[start : start + _CHUNK])


async def forget_before(server_id: int, moment: datetime) -> None:
    """Drop one server's history older than ``moment`` (no sample will look that far back)."""
    await TrafficBucket.filter(
        key_id__in=Subquery(VPNKey.filter(server_id=server_id).values("id")), hour__lt=moment
    ).delete()
