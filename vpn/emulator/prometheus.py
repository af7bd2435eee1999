"""Outline's Prometheus: scrapes ss-server's counters on a fixed schedule and answers
``increase()`` exactly as Prometheus 2.42 computes it (``extrapolatedRate`` in
``promql/functions.go``), on the emulator's clock.

Samples are taken lazily: before each answer every scrape due up to "now" is taken, with the
counter values ss-server held at that moment. A scrape is skipped while Prometheus is down;
a wipe loses every sample taken so far.
"""

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field

from vpn.emulator.traffic import Series, TrafficLedger

# The per-location series Outline also keeps (the whole server's traffic).
LOCATION = "__location__"


@dataclass
class _Samples:
    """One series in the TSDB: times (ms), values, and the running sum of counter resets."""

    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    resets: list[float] = field(default_factory=lambda: [0.0])

    def append(self, at_ms: int, value: float) -> None:
        drop = self.values[-1] if self.values and value < self.values[-1] else 0.0
        self.times.append(at_ms)
        self.values.append(value)
        self.resets.append(self.resets[-1] + drop)


def _round_js(value: float) -> int:
    """JavaScript ``Math.round`` (halves go up)."""
    return math.floor(value + 0.5)


class Prometheus:
    """The TSDB of one server's Prometheus and its ``increase()`` evaluation."""

    def __init__(
        self,
        counters: TrafficLedger,
        clock: Callable[[], float],
        *,
        interval: float = 60.0,
        offset: float = 0.0,
    ) -> None:
        self.counters = counters
        self.clock = clock
        self.interval = interval
        self.offset = offset % interval
        self.down: list[tuple[float, float]] = []
        self._series: dict[tuple[str, Series], _Samples] = {}
        self._started = clock()
        self._next: float | None = None
        self.revision = 0  # changes whenever the TSDB does

    # --- scraping --------------------------------------------------------------------------

    def scrape_times(self, start: float, end: float) -> list[float]:
        """The scheduled scrapes in ``(start, end]``."""
        first = math.floor((start - self.offset) / self.interval) + 1
        last = math.floor((end - self.offset) / self.interval)
        return [self.offset + k * self.interval for k in range(first, last + 1)]

    def last_scrape(self, moment: float) -> float:
        """The scheduled scrape at or before ``moment``."""
        return self.offset + math.floor((moment - self.offset) / self.interval) * self.interval

    def catch_up(self) -> None:
        """Take every scrape due up to now."""
        now = self.clock()
        if self._next is None:
            # Prometheus runs from the server's start (or from the first moment asked about).
            self._next = self.last_scrape(min(self._started, now)) + self.interval
        for moment in self.scrape_times(self._next - self.interval / 2, now):
            if not self.is_down(moment):
                self._scrape(moment)
        self._next = self.last_scrape(now) + self.interval

    def _scrape(self, moment: float) -> None:
        self.revision += 1
        at_ms = round(moment * 1000)
        server: dict[Series, float] = {}
        for key_id, series in self.counters.series():
            value = self.counters.counter(key_id, series, moment)
            if value is None:
                continue
            self._series.setdefault((key_id, series), _Samples()).append(at_ms, float(value))
            server[series] = server.get(series, 0.0) + value
        for series, value in server.items():
            self._series.setdefault((LOCATION, series), _Samples()).append(at_ms, value)

    def is_down(self, moment: float) -> bool:
        """Whether Prometheus is stopped at ``moment``."""
        return any(start <= moment < end for start, end in self.down)

    def restart(self, down_for: float) -> None:
        """Stop Prometheus now for ``down_for`` seconds (scrapes in between are missed)."""
        self.catch_up()
        now = self.clock()
        self.down.append((now, now + down_for))

    def wipe(self) -> None:
        """Lose the TSDB: every sample taken so far."""
        self.catch_up()
        self._series.clear()
        self.revision += 1

    # --- queries ---------------------------------------------------------------------------

    def increase_by_key(self, seconds: float) -> dict[str, float]:
        """``sum by (access_key) (increase(shadowsocks_data_bytes[<seconds>s]))`` at now."""
        self.catch_up()
        end_ms = round(self.clock() * 1000)
        start_ms = end_ms - round(seconds * 1000)
        sums: dict[str, float] = {}
        for (key_id, _), samples in self._series.items():
            value = _extrapolated_increase(samples, start_ms, end_ms)
            if value is not None:
                sums[key_id] = sums.get(key_id, 0.0) + value
        return sums

    def transfer(self) -> dict[str, int]:
        """``GET /metrics/transfer``: the rounded 30-day increases, zeros left out."""
        rounded = {k: _round_js(v) for k, v in self.increase_by_key(30 * 86400).items()}
        return {k: v for k, v in rounded.items() if k != LOCATION and v != 0}

    def keys_with_samples(self, start: float, end: float) -> set[str]:
        """Keys with two samples of one series in ``[start, end]``."""
        self.catch_up()
        lo_ms, hi_ms = round(start * 1000), round(end * 1000)
        return {
            k
            for (k, _), s in self._series.items()
            if k != LOCATION and bisect_right(s.times, hi_ms) - bisect_left(s.times, lo_ms) >= 2
        }


def _extrapolated_increase(samples: _Samples, start_ms: int, end_ms: int) -> float | None:
    """Prometheus 2.42 ``extrapolatedRate(isCounter=true, isRate=false)`` over the samples in
    ``[start_ms, end_ms]``; ``None`` with fewer than two."""
    lo = bisect_left(samples.times, start_ms)
    hi = bisect_right(samples.times, end_ms)
    if hi - lo < 2:
        return None
    first, last = samples.values[lo], samples.values[hi - 1]
    result = last - first + samples.resets[hi] - samples.resets[lo + 1]
    duration_to_start = (samples.times[lo] - start_ms) / 1000
    duration_to_end = (end_ms - samples.times[hi - 1]) / 1000
    sampled = (samples.times[hi - 1] - samples.times[lo]) / 1000
    average = sampled / (hi - lo - 1)
    if result > 0 and first >= 0:
        # A counter cannot go below zero: extrapolate no further back than its zero point.
        duration_to_zero = sampled * (first / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    threshold = average * 1.1
    extrapolate_to = sampled
    extrapolate_to += duration_to_start if duration_to_start < threshold else average / 2
    extrapolate_to += duration_to_end if duration_to_end < threshold else average / 2
    return result * (extrapolate_to / sampled)
