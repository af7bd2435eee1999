"""The usage answers of the emulated server, in one of two modes.

``exact``: every answer is the true byte count of its window (an idealised server, for tests
that need exact figures). ``prometheus``: the answers real Outline gives, computed from
scraped samples as shadowbox 1.12 asks Prometheus 2.42 for them — extrapolated floats,
rounded for ``/metrics/transfer``, each experimental query cached for five minutes.
"""

import math
from collections.abc import Callable
from typing import Any

from vpn.emulator import checks
from vpn.emulator.prometheus import LOCATION, Prometheus
from vpn.emulator.traffic import WINDOW_30_DAYS, TrafficLedger

MODES = ("exact", "prometheus")
# shadowbox's range-query step, and how long it keeps a query's answer.
STEP = 300
CACHE_SECONDS = 300


def _entry(key_id: str, nbytes: float, last_seen: float | None) -> dict[str, Any]:
    return {
        "accessKeyId": checks.js_parse_int(key_id),
        "tunnelTime": {"seconds": 0},
        "dataTransferred": {"bytes": nbytes},
        "connection": {
            "lastTrafficSeen": last_seen,
            "peakDeviceCount": {"data": 0, "timestamp": None},
        },
    }


def _server(nbytes: float, current: float) -> dict[str, Any]:
    now = {"data": {"bytes": current}, "timestamp": None}
    idle = {"data": {"bytes": 0}, "timestamp": None}
    return {
        "tunnelTime": {"seconds": 0},
        "dataTransferred": {"bytes": nbytes},
        "bandwidth": {"current": now if current else idle, "peak": idle},
        "locations": [],
    }


class ExactUsage:
    """Answers that are the true counts."""

    def __init__(self, counters: TrafficLedger, clock: Callable[[], float]) -> None:
        self.counters = counters
        self.clock = clock

    def usage_30d(self, key_id: str) -> int:
        """The rolling 30-day usage limits are enforced against."""
        now = self.clock()
        return self.counters.total(key_id, now - WINDOW_30_DAYS, now)

    def transfer_json(self) -> dict[str, Any]:
        """``GET /metrics/transfer``: 30-day bytes per key id with traffic."""
        now = self.clock()
        return {"bytesTransferredByUserId": self.counters.totals(now - WINDOW_30_DAYS, now)}

    def server_metrics_json(self, seconds: int) -> dict[str, Any]:
        """``GET /experimental/server/metrics``: the bytes of the last ``seconds``."""
        now = self.clock()
        start = now - seconds
        activity = self.counters.activity(start, now)
        entries = [_entry(key_id, n, last) for key_id, (n, last) in activity.items()]
        return {"server": _server(sum(n for n, _ in activity.values()), 0), "accessKeys": entries}


class PrometheusUsage:
    """Answers computed from scraped samples, as the real server gives them."""

    def __init__(self, prometheus: Prometheus) -> None:
        self.prometheus = prometheus
        self.counters = prometheus.counters
        self.clock = prometheus.clock
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._transfer: tuple[tuple[float, int], dict[str, int]] | None = None

    def usage_30d(self, key_id: str) -> int:
        """What shadowbox compares with a key's limit: its ``/metrics/transfer`` figure."""
        self.prometheus.catch_up()
        moment = (self.clock(), self.prometheus.revision)
        if self._transfer is None or self._transfer[0] != moment:
            self._transfer = (moment, self.prometheus.transfer())
        return self._transfer[1].get(key_id, 0)

    def transfer_json(self) -> dict[str, Any]:
        """``GET /metrics/transfer`` (never cached by shadowbox)."""
        return {"bytesTransferredByUserId": self.prometheus.transfer()}

    def _cached(self, query: Any, compute: Callable[[], Any]) -> Any:
        if query not in self._cache:
            self._cache[query] = (self.clock(), compute())
        return self._cache[query][1]

    def server_metrics_json(self, seconds: int) -> dict[str, Any]:
        """``GET /experimental/server/metrics``, each Prometheus query cached for 5 minutes."""
        now = self.clock()
        self._cache = {q: v for q, v in self._cache.items() if now - v[0] <= CACHE_SECONDS}
        prom = self.prometheus
        end = math.ceil(now / STEP) * STEP
        start = end - seconds
        by_key = dict(self._cached(("keys", seconds), lambda: prom.increase_by_key(seconds)))
        listed = self._cached(
            ("range", seconds, start, end), lambda: prom.keys_with_samples(start - STEP, end)
        )
        rate = self._cached("bandwidth", lambda: prom.increase_by_key(STEP).get(LOCATION, 0))
        server_bytes = by_key.pop(LOCATION, 0.0)
        entries = [
            _entry(key_id, by_key.get(key_id, 0), self._last_seen(key_id, start, end, now))
            for key_id in sorted(set(by_key) | set(listed))
        ]
        return {"server": _server(server_bytes, rate / STEP), "accessKeys": entries}

    def _last_seen(self, key_id: str, start: float, end: float, now: float) -> float | None:
        """The range step that saw the key's last traffic, capped at now."""
        seen = self.counters.last_seen(key_id, start - STEP, end)
        if seen is None:
            return None
        step = start + math.ceil((seen - start) / STEP) * STEP
        return min(now, step)
