"""Traffic per access-key label, as the server's Prometheus keeps it: timestamped byte counts."""

from collections import defaultdict

WINDOW_30_DAYS = 30 * 86400


class TrafficLedger:
    """Events ``(timestamp, bytes)`` per key id; windows are half-open ``(start, end]``."""

    def __init__(self) -> None:
        self._events: dict[str, list[tuple[float, int]]] = defaultdict(list)

    def add(self, key_id: str, nbytes: int, at: float) -> None:
        """Record ``nbytes`` moved by ``key_id`` at ``at`` (seconds)."""
        if nbytes < 0:
            raise ValueError("traffic cannot be negative")
        self._events[key_id].append((at, nbytes))

    def total(self, key_id: str, start: float, end: float) -> int:
        """Bytes of ``key_id`` in ``(start, end]``."""
        return sum(n for t, n in self._events.get(key_id, ()) if start < t <= end)

    def totals(self, start: float, end: float) -> dict[str, int]:
        """Bytes per key id in ``(start, end]``, only ids with traffic."""
        sums = {key_id: self.total(key_id, start, end) for key_id in self._events}
        return {key_id: n for key_id, n in sums.items() if n > 0}

    def last_seen(self, key_id: str, start: float, end: float) -> float | None:
        """When ``key_id`` last moved bytes in ``(start, end]``."""
        times = [t for t, n in self._events.get(key_id, ()) if start < t <= end and n > 0]
        return max(times, default=None)

    def forget(self, key_id: str) -> None:
        """Drop the history of one key id."""
        self._events.pop(key_id, None)

    def reset(self) -> None:
        """Drop every count (the metrics store was lost)."""
        self._events.clear()
