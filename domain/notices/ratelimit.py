"""Telegram's sending limits: about 30 messages a second overall and one a second per chat."""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class RateLimiter:
    """At most ``rate * period`` sends in any ``period`` seconds, one per chat per
    ``chat_interval`` seconds.

    ``acquire`` returns when the caller may send; the send should follow at once. A chat
    waits for its own spacing before queueing for an overall turn, so a busy chat never
    holds up the others. Times are those at which sends really went, so a late wake-up
    never lets a burst through.
    """

    def __init__(
        self,
        rate: float = 30.0,
        chat_interval: float = 1.0,
        *,
        period: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.period = period
        self.chat_interval = chat_interval
        self._clock = clock
        self._sleep = sleep
        self._recent: deque[float] = deque(maxlen=max(1, round(rate * period)))
        self._paused_until = 0.0
        self._turn = asyncio.Lock()
        self._chat_next: dict[int, float] = {}
        self._chat_locks: dict[int, asyncio.Lock] = {}

    async def acquire(self, chat_id: int) -> float:
        """Wait for this chat's turn, then for a free slot overall; returns the slot's time."""
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            await self._wait_until(self._chat_next.get(chat_id, 0.0))
            async with self._turn:
                if len(self._recent) == self._recent.maxlen:
                    await self._wait_until(self._recent[0] + self.period)
                await self._wait_until(self._paused_until)
                sent = self._clock()
                self._recent.append(sent)
            self._chat_next[chat_id] = sent + self.chat_interval
        if len(self._chat_locks) > 1024:
            self._forget_idle_chats()
        return sent

    def pause(self, seconds: float) -> None:
        """Hold every send for ``seconds`` (Telegram's flood wait applies to the whole bot)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget_idle_chats(self) -> None:
        # A chat whose spacing has run out has nobody waiting on it any more.
        now = self._clock()
        self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}
        waiting = self._chat_next.keys()
        self._chat_locks = {
            c: lock for c, lock in self._chat_locks.items() if lock.locked() or c in waiting
        }

    async def _wait_until(self, moment: float) -> None:
        while (delay := moment - self._clock()) > 0:
            await self._sleep(delay)
