"""The ledger's arithmetic on plain values: new bytes from counters, the 80 % notice."""

from datetime import datetime
from typing import NamedTuple

from db.models import Notice, VPNKey
from domain.notices import outbox
from domain.traffic.history import SKEW, WINDOW
from domain.traffic.rows import KeyRow

WARN_AT = 0.8


class Sample(NamedTuple):
    """One key's outcome of a sync: bytes to add and the baseline to keep."""

    key: KeyRow
    counted: int
    baseline: int


def from_since(
    keys: list[KeyRow], counters: dict[str, int], since: dict[str, int]
) -> list[Sample]:
    """Samples from the bytes each key moved since the last sync (exact).

    The counter cannot grow by more than the new traffic (ageing only takes away), so its
    growth is a floor that covers a sliver of time the two windows might not have shared.
    """
    samples = []
    for key in keys:
        counter, moved = counters.get(key.remote_id, 0), since.get(key.remote_id, 0)
        grown = counter - key.usage_baseline
        samples.append(Sample(key, moved if moved > grown else grown, counter))
    return samples


def counters_were_lost(keys: list[KeyRow], counters: dict[str, int], now: datetime) -> bool:
    """Whether the server lost its counters (metrics store wiped): a key too young for any
    of its traffic to have left the window reports less than at the last sync."""
    young_since = now - WINDOW + SKEW
    return any(
        key.created_at > young_since and counters.get(key.remote_id, 0) < key.usage_baseline
        for key in keys
    )


def from_counters(
    keys: list[KeyRow], counters: dict[str, int], aged: dict[int, int], *, reset: bool
) -> list[Sample]:
    """Samples from 30-day counters alone.

    ``aged`` is what the ledger counted in the slice of time that has just left the window.
    The baseline carries any shortfall of that estimate (``max(counter, baseline - aged)``)
    so that errors cancel out over time instead of adding up. After a ``reset`` everything
    the server reports is new. A drop the ledger cannot explain is never counted twice: at
    worst, traffic is counted late.
    """
    samples = []
    for key in keys:
        counter, baseline = counters.get(key.remote_id, 0), key.usage_baseline
        if reset:
            samples.append(Sample(key, counter, counter))
            continue
        gone = aged.get(key.id, 0)
        samples.append(
            Sample(key, max(0, counter - baseline + gone), max(counter, baseline - gone))
        )
    return samples


def crossed_80(limit: int | None, used_before: int, used: int) -> bool:
    """Whether booking took a key's usage over 80 % of its limit (not yet to 100 %)."""
    return limit is not None and used_before < WARN_AT * limit <= used < limit


def notice_at_80(key: VPNKey, server: str, used_before: int) -> Notice | None:
    """The owner's "80 % used" notice when this sync crossed that mark (else ``None``)."""
    limit = key.traffic_limit
    if not crossed_80(limit, used_before, key.traffic_used):
        return None
    period = int(key.period_started_at.timestamp()) if key.period_started_at else 0
    dedup = f"tg:{outbox.TRAFFIC_80}:{key.id}:{limit}:{period}"
    return outbox.telegram_notice(outbox.TRAFFIC_80, key, server, dedup_key=dedup, percent=80)
