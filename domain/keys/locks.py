"""In-process serialisation of work on one key (server call + database write)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from weakref import WeakValueDictionary

_locks: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()


@asynccontextmanager
async def key_lock(key_id: int) -> AsyncIterator[None]:
    """Hold the lock of one key while its server and database state change together."""
    lock = _locks.get(key_id)
    if lock is None:
        lock = _locks[key_id] = asyncio.Lock()
    async with lock:
        yield
