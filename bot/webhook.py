"""Receiving updates by webhook: a malformed body is a 400, and each update is handled once.

Telegram re-sends an update when its delivery failed or timed out, even if the first
delivery was handled. A short-lived log of update ids (Redis when ``REDIS_URL`` is set, so
every instance behind a load balancer shares it; memory otherwise) drops the repeats. An id
is *claimed* while its update is handled and *done* afterwards: a repeat of a done update
is answered 200 at once, a repeat of one still being handled gets a 503 (Telegram retries
later), and a failed or crashed handling releases the claim so the retry handles it.
"""

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum
from typing import Protocol

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from redis.asyncio import Redis

logger = logging.getLogger(__name__)

DONE_SECONDS = 3600  # Telegram re-sends within minutes; an hour covers it with room to spare
CLAIM_SECONDS = 120  # longer than Telegram waits (60 s); a crashed instance's claim expires
MEMORY_ENTRIES = 100_000
PREFIX = "vpnkeys:webhook:"


class Claim(Enum):
    """What the update log says about an update that just arrived."""

    NEW = "new"  # handle it
    DONE = "done"  # handled already: acknowledge it
    BUSY = "busy"  # being handled right now: let Telegram retry


class UpdateLog(Protocol):
    """Which updates were handled recently."""

    async def claim(self, key: str) -> Claim: ...
    async def finish(self, key: str) -> None: ...
    async def release(self, key: str) -> None: ...
    async def close(self) -> None: ...


class MemoryUpdateLog:
    """The update log of one process (the default without Redis)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._done: OrderedDict[str, float] = OrderedDict()  # key -> expiry, oldest first
        self._busy: set[str] = set()

    def _expire(self) -> None:
        now = self._clock()
        while self._done and (
            next(iter(self._done.values())) <= now or len(self._done) > MEMORY_ENTRIES
        ):
            self._done.popitem(last=False)

    async def claim(self, key: str) -> Claim:
        self._expire()
        if key in self._done:
            return Claim.DONE
        if key in self._busy:
            return Claim.BUSY
        self._busy.add(key)
        return Claim.NEW

    async def finish(self, key: str) -> None:
        self._busy.discard(key)
        self._done[key] = self._clock() + DONE_SECONDS

    async def release(self, key: str) -> None:
        self._busy.discard(key)

    async def close(self) -> None:
        """Nothing to close."""


class RedisUpdateLog:
    """The update log shared through Redis by every instance."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, key: str) -> Claim:
        if await self._redis.set(key, Claim.BUSY.value, nx=True, ex=CLAIM_SECONDS):
            return Claim.NEW
        state = await self._redis.get(key)
        return Claim.DONE if state == Claim.DONE.value.encode() else Claim.BUSY

    async def finish(self, key: str) -> None:
        await self._redis.set(key, Claim.DONE.value, ex=DONE_SECONDS)

    async def release(self, key: str) -> None:
        await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()


def update_log(redis_url: str | None) -> UpdateLog:
    """Redis when a URL is given, else memory."""
    return RedisUpdateLog(Redis.from_url(redis_url)) if redis_url else MemoryUpdateLog()


class WebhookHandler(SimpleRequestHandler):
    """aiogram's handler (secret checked, answered after handling) with the two guards above."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, *, secret: str, seen: UpdateLog) -> None:
        super().__init__(dispatcher, bot, handle_in_background=False, secret_token=secret)
        self.seen = seen

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        update = parse_update(bot, await request.read())
        key = f"{PREFIX}{bot.id}:{update.update_id}"
        claim = await self.seen.claim(key)
        if claim is Claim.DONE:
            logger.info("update %s was delivered again: already handled", update.update_id)
            return web.json_response({})
        if claim is Claim.BUSY:
            raise web.HTTPServiceUnavailable(reason="this update is being handled; retry later")
        try:
            result = await self.dispatcher.feed_webhook_update(bot, update, **self.data)
        except BaseException:
            await self.seen.release(key)
            raise
        await self.seen.finish(key)
        return web.Response(body=self._build_response_writer(bot=bot, result=result))


def parse_update(bot: Bot, body: bytes) -> Update:
    """The update in ``body``; anything else is a 400 (never a 500)."""
    try:
        data = json.loads(body)
    except ValueError:  # also undecodable bytes
        raise web.HTTPBadRequest(reason="the update is not valid JSON") from None
    try:
        return Update.model_validate(data, context={"bot": bot})
    except ValueError:  # pydantic's ValidationError
        raise web.HTTPBadRequest(reason="the body is not a Telegram update") from None
