"""Running one coroutine per item with a bound on how many run at once."""

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded(items: Iterable[T], fn: Callable[[T], Awaitable[R]], limit: int = 8) -> list[R]:
    """``[await fn(item) for item in items]`` with at most ``limit`` in flight, in order."""
    gate = asyncio.Semaphore(limit)

    async def run(item: T) -> R:
        async with gate:
            return await fn(item)

    return list(await asyncio.gather(*(run(item) for item in items)))
