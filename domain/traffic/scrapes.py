"""Exact bytes from Outline's extrapolated answers, given when Prometheus scrapes.

Outline answers ``increase(shadowsocks_data_bytes[r])`` (Prometheus ``extrapolatedRate``).
For a series sampled all through a window ``[T - r, T]`` whose first and last samples lie
less than 1.1 scrape intervals from the window's ends (always true for regular scrapes),
the answer is ``Δ · r / S``: ``Δ`` the true increase between the first and last sample in the
window, ``S`` the time between them. Knowing the scrape schedule, the ledger asks for a window
that starts just before the last scrape it booked (the *anchor*), so ``S`` is the time from
the anchor to the latest scrape and ``Δ = answer · S / r`` is exact — whatever the query's
own moment ``T``. See ``docs/traffic.md``.
"""

import math
from dataclasses import dataclass

# How far before the anchor the window starts (room for clock skew and request latency).
MARGIN = 10.0


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a server's Prometheus scrapes: every ``interval`` s, at ``phase`` past the grid."""

    interval: float
    phase: float

    def last(self, moment: float) -> float:
        """The scrape at or before ``moment``."""
        steps = math.floor((moment - self.phase) / self.interval)
        return self.phase + steps * self.interval

    def between(self, anchor: float, latest: float) -> int:
        """How many scrape intervals separate two scrapes."""
        return round((latest - anchor) / self.interval)


def window_choices(now: float, anchor: float, interval: float) -> list[int]:
    """Window lengths (whole seconds) that start in ``(anchor - interval, anchor)``, best first.

    The best starts ``MARGIN`` s before the anchor; the others serve when shadowbox may still
    hold a cached answer for that query (it keeps each for five minutes).
    """
    low = math.floor(now - anchor) + 1
    high = math.ceil(now - anchor + interval) - 2
    best = min(max(math.ceil(now - anchor + MARGIN), low), high)
    rest = sorted(range(low, high + 1), key=lambda r: (abs(r - best), r))
    return rest


def chained(answer: float, span: float, window: int) -> float:
    """The true increase between the anchor and the latest scrape (``span`` seconds apart)."""
    return answer * span / window


def first_counted(counter: float, answer: float, window: int, since_scrape: float) -> float:
    """All a new series moved so far, from its 30-day figure ``counter``.

    For a series born after the anchor, ``counter`` is ``Δ·(S + a + e)/S`` where ``e`` is the
    time since the latest scrape and ``a`` the start extrapolation — which is the first
    sample's value itself when it is small enough (the zero point), else less. Taking the end
    extrapolation ``Δ·e/S`` away (estimated from the window's answer, never under it) leaves
    at most the bytes moved so far, and at least those after the first scrape.
    """
    return max(0.0, counter - answer * since_scrape / window)
