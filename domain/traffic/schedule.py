"""Learning when a server's Prometheus scrapes, from the server's own answers.

Outline's API does not say when Prometheus scrapes (every 60 s, at a fixed second). A window
``[T - r, T]`` reports bytes only for increases between two samples inside it, so "some key
shows bytes" is monotone in ``r`` and switches on at the ``r`` whose start reaches one more
scrape: a binary search over ``r`` finds a scrape time to the second. Only traffic makes
that visible; with none there is nothing to book either. What is learned is kept in memory
per server (with the windows recently asked for, which shadowbox caches for five minutes).
A process cannot know what another asked (the one it replaced, a former worker leader), so
it trusts no window until that long after it first read the server.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from db.models import VPNServer
from domain.keys import remote
from domain.traffic.scrapes import Schedule
from vpn.backends import Backend

logger = logging.getLogger(__name__)
# shadowbox keeps each Prometheus answer this long (keyed by the query's text).
CACHED_FOR = 300.0
# A learned schedule is checked again after this long.
RELEARN_AFTER = 6 * 3600.0


@dataclass
class ServerView:
    """What the ledger knows of one server's metrics between syncs."""

    schedule: Schedule | None = None
    learned_at: float = 0.0
    asked: dict[int, float] = field(default_factory=dict)
    # A sync failed (Prometheus may have been down): book only from a scrape after recovery.
    failed: bool = False
    recovered_at: float = float("-inf")
    met_at: float | None = None

    def trusted(self, now: float) -> bool:
        """Whether shadowbox's cache can only hold answers this process asked for: another
        process's have expired once ``CACHED_FOR`` has passed since this one first came."""
        if self.met_at is None:
            self.met_at = now
        return now - self.met_at > CACHED_FOR + 5

    def fresh(self, windows: list[int], now: float) -> int | None:
        """The first window whose answer is not in shadowbox's cache; marks it asked."""
        self.asked = {r: at for r, at in self.asked.items() if now - at <= CACHED_FOR + 5}
        for window in windows:
            if window not in self.asked:
                self.asked[window] = now
                return window
        return None


_views: dict[str, ServerView] = {}


def view(srv: VPNServer) -> ServerView:
    """The in-memory view of ``srv`` (a re-registered server at a new URL starts afresh)."""
    digest = hashlib.sha256(f"{srv.id}:{srv.api_url}".encode()).hexdigest()
    return _views.setdefault(digest, ServerView())


class NotReported(Exception):
    """The server has no per-interval metrics (or reports ids the ledger cannot map)."""


async def _shows_bytes(srv: VPNServer, client: Backend, window: int) -> bool:
    usage = await remote.call(srv, client.usage_since(window))
    if usage is None:
        raise NotReported(srv.name)
    return any(n > 0 for n in usage.values())


async def learn(
    srv: VPNServer, client: Backend, clock: Callable[[], float], *, interval: float, reach: float
) -> Schedule | None:
    """Find the scrape schedule from windows up to ``reach`` s long; ``None`` when no key
    moved bytes between two scrapes in that time (so there is nothing to count)."""
    seen, began = view(srv), clock()
    windows = [r for r in range(int(interval) + 1, int(reach) + 1) if r not in seen.asked]
    low, high = 0, len(windows) - 1  # find the first window that shows bytes
    if not windows or not await _ask(srv, client, seen, windows[high], began):
        return None
    while low < high:
        mid = (low + high) // 2
        if await _ask(srv, client, seen, windows[mid], began):
            high = mid
        else:
            low = mid + 1
    if low > 0 and windows[low - 1] != windows[low] - 1:
        return None  # a window still cached is in the way: not precise to the second
    # The scrape is in [T - r, T - r + 1) for the window r that first reaches it.
    moment = (began + clock()) / 2
    schedule = Schedule(interval, (moment - windows[low] + 0.5) % interval)
    seen.schedule, seen.learned_at = schedule, began
    logger.info("traffic: %s scrapes every %gs, %.1fs past", srv.name, interval, schedule.phase)
    return schedule


async def _ask(srv: VPNServer, client: Backend, seen: ServerView, window: int, now: float) -> bool:
    seen.asked[window] = now
    return await _shows_bytes(srv, client, window)
