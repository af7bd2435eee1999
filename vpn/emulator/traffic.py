"""What outline-ss-server counts: bytes per access key and series, the truth usage is read from.

ss-server keeps ``shadowsocks_data_bytes{access_key, dir, proto}``; Outline sums the series
``dir=~"c<p|p>t"``. A series exists from its first byte after a restart of ss-server (which
starts every counter again at zero). Windows are half-open ``(start, end]``.
"""

import math
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

WINDOW_30_DAYS = 30 * 86400
# (dir, proto) of a series that Outline counts; a download is mostly "c<p" (to the client).
Series = tuple[str, str]
DOWN: Series = ("c<p", "tcp")
UP: Series = ("p>t", "tcp")


@dataclass
class _Events:
    """One series' traffic: sorted times and the running total after each."""

    times: list[float] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)

    def add(self, at: float, nbytes: int) -> None:
        index = bisect_right(self.times, at)
        before = self.totals[index - 1] if index else 0
        self.times.insert(index, at)
        self.totals.insert(index, before + nbytes)
        for later in range(index + 1, len(self.totals)):
            self.totals[later] += nbytes

    def through(self, moment: float) -> int:
        """Bytes up to and including ``moment``."""
        index = bisect_right(self.times, moment)
        return self.totals[index - 1] if index else 0

    def first_after(self, moment: float) -> float | None:
        """When the first traffic after ``moment`` happened."""
        index = bisect_right(self.times, moment)
        return self.times[index] if index < len(self.times) else None


class TrafficLedger:
    """Traffic events per key id and series, and the restarts of ss-server."""

    def __init__(self) -> None:
        self._events: dict[str, dict[Series, _Events]] = defaultdict(dict)
        self.restarts: list[float] = []

    def add(self, key_id: str, nbytes: int, at: float, series: Series = DOWN) -> None:
        """Record ``nbytes`` moved by ``key_id`` at ``at`` (seconds) on one series."""
        if nbytes < 0:
            raise ValueError("traffic cannot be negative")
        self._events[key_id].setdefault(series, _Events()).add(at, nbytes)

    def total(self, key_id: str, start: float, end: float) -> int:
        """Bytes of ``key_id`` in ``(start, end]`` over every series."""
        return sum(
            e.through(end) - e.through(start) for e in self._events.get(key_id, {}).values()
        )

    def totals(self, start: float, end: float) -> dict[str, int]:
        """Bytes per key id in ``(start, end]``, only ids with traffic."""
        return {key_id: nbytes for key_id, (nbytes, _) in self.activity(start, end).items()}

    def activity(self, start: float, end: float) -> dict[str, tuple[int, float]]:
        """Bytes and the time of the last traffic per key id in ``(start, end]``, in one pass;
        only ids with traffic."""
        found = {}
        for key_id, by in self._events.items():
            nbytes, last = 0, -math.inf
            for events in by.values():
                first, after = bisect_right(events.times, start), bisect_right(events.times, end)
                if after > first:
                    nbytes += events.totals[after - 1] - (events.totals[first - 1] if first else 0)
                    last = max(last, events.times[after - 1])
            if nbytes > 0:
                found[key_id] = (nbytes, last)
        return found

    def last_seen(self, key_id: str, start: float, end: float) -> float | None:
        """When ``key_id`` last moved bytes in ``(start, end]``."""
        seen = [
            e.times[i - 1]
            for e in self._events.get(key_id, {}).values()
            for i in (bisect_right(e.times, end),)
            if i and e.times[i - 1] > start
        ]
        return max(seen, default=None)

    def series(self) -> list[tuple[str, Series]]:
        """Every (key id, series) that ever had traffic."""
        return [(key_id, s) for key_id, by in self._events.items() for s in by]

    def counter(self, key_id: str, series: Series, moment: float) -> int | None:
        """ss-server's counter at ``moment``, or ``None`` while the series does not exist."""
        events = self._events.get(key_id, {}).get(series)
        if events is None:
            return None
        since = self.restart_before(moment)
        born = events.first_after(since)
        if born is None or born > moment:
            return None
        return events.through(moment) - events.through(since)

    def restart_before(self, moment: float) -> float:
        """The last ss-server restart at or before ``moment`` (``-inf`` when none)."""
        index = bisect_right(self.restarts, moment)
        return self.restarts[index - 1] if index else float("-inf")

    def restart(self, at: float) -> None:
        """ss-server restarts at ``at``: every counter starts again at zero."""
        self.restarts.append(max([at, *self.restarts]))

    def forget(self, key_id: str) -> None:
        """Drop the history of one key id."""
        self._events.pop(key_id, None)

    def reset(self) -> None:
        """Drop every count (the metrics store was lost)."""
        self._events.clear()
