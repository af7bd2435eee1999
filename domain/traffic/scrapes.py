"""Exact bytes from Outline's extrapolated answers, given when Prometheus scrapes.

Outline answers ``increase(shadowsocks_data_bytes[r])`` (Prometheus ``extrapolatedRate``).
For a series sampled all through a window ``[T - r, T]`` whose first and last samples lie
less than 1.1 scrape intervals from the window's ends (always true for regular scrapes),
the answer is ``Δ · r / S``: ``Δ`` the true increase between the first and last sample in the
window, ``S`` the time between them. Knowing the scrape schedule, the ledger asks for a window
that starts just before the last scrape it booked (the *anchor*), so ``S`` is the time from
the anchor to the latest scrape and ``Δ = answer · S / r`` is exact — whatever the query's
own moment ``T``. A counter is extrapolated back no further than its zero point, though, so
a second, longer window tells when the answers are not in proportion to the windows.
See ``docs/traffic.md``.
"""

import math
from dataclasses import dataclass

# How far before the anchor the window starts (room for clock skew and request latency),
# and the second window's start, further back but after the scrape before the anchor.
MARGIN = 10.0
FAR_MARGIN = 40.0
# Answers in proportion to their windows within this share (float rounding, not traffic).
PROPORTIONAL = 1e-6


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


def window_choices(now: float, anchor: float, interval: float, margin: float) -> list[int]:
    """Window lengths (whole seconds) that start in ``(anchor - interval, anchor)``, best first.

    The best starts ``margin`` s before the anchor; the others serve when shadowbox may still
    hold a cached answer for that query (it keeps each for five minutes).
    """
    low = math.floor(now - anchor) + 1
    high = math.ceil(now - anchor + interval) - 2
    best = min(max(math.ceil(now - anchor + margin), low), high)
    rest = sorted(range(low, high + 1), key=lambda r: (abs(r - best), r))
    return rest


@dataclass(frozen=True, slots=True)
class Answers:
    """One key's answers for two windows that start before the anchor (``near`` the shorter)."""

    near: float
    far: float


def chained(
    answers: Answers, windows: tuple[int, int], span: float, since_scrape: float, before: float
) -> float:
    """The true increase Δ between the anchor and the latest scrape (``span`` seconds apart).

    While Prometheus extrapolates a window's start back to the window's start, the answer
    is ``Δ · window / span``, so two answers stand in their windows' proportion. It goes no
    further back than the counter's zero point, though: when the counter's value ``v₁`` at
    the anchor is small against Δ (a burst far above all the key moved before), an answer
    is ``Δ · (span + since_scrape) / span + v₁`` whatever its window. ``v₁`` is then taken
    as ``before`` (the key's last 30-day figure), within the bounds the shorter window sets.
    """
    near, far = windows
    proportional = answers.near * span / near
    if answers.far * near >= answers.near * far * (1 - PROPORTIONAL):
        return proportional
    at_zero_point = answers.near * span / (span + since_scrape)
    return min(
        at_zero_point, max(proportional, at_zero_point - before * span / (span + since_scrape))
    )


def first_counted(counter: float, answer: float, window: int, since_scrape: float) -> float:
    """All a new series moved so far, from its 30-day figure ``counter``.

    For a series born after the anchor, ``counter`` is ``Δ·(S + a + e)/S`` where ``e`` is the
    time since the latest scrape and ``a`` the start extrapolation — which is the first
    sample's value itself when it is small enough (the zero point), else less. Taking the end
    extrapolation ``Δ·e/S`` away (estimated from the window's answer, never under it) leaves
    at most the bytes moved so far, and at least those after the first scrape.
    """
    return max(0.0, counter - answer * since_scrape / window)
