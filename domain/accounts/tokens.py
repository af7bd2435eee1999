"""API tokens: created once (plaintext shown once), listed, revoked, checked."""

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from typing import NamedTuple

from tortoise.transactions import in_transaction

from db import reads
from db.models import ApiToken
from domain import audit
from domain.context import utcnow
from domain.errors import Conflict, Invalid, NotFound, Unauthorized

TOKEN_PREFIX = "vks_"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# ``last_used_at`` is refreshed at most this often, so reads stay read-only.
TOUCH_EVERY = timedelta(minutes=1)


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_token(name: str, *, actor: str) -> tuple[ApiToken, str]:
    """A new token and its plaintext (which is not stored anywhere)."""
    if not NAME_RE.fullmatch(name):
        raise Invalid("token name must be 1-64 letters, digits, '_', '.', '-'", field="name")
    if await ApiToken.exists(name=name):
        raise Conflict(f"token '{name}' already exists", token=name)
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with in_transaction():
        token = await ApiToken.create(name=name, token_hash=_digest(plaintext))
        await audit.record(actor, "token.created", details={"token": name})
    return token, plaintext


async def list_tokens() -> list[ApiToken]:
    """Every token, newest first."""
    return await ApiToken.all().order_by("-created_at")


async def revoke_token(name: str, *, actor: str) -> ApiToken:
    """Make a token unusable from now on."""
    token = await ApiToken.get_or_none(name=name)
    if token is None:
        raise NotFound(f"token '{name}' not found", token=name)
    if token.revoked_at is None:
        async with in_transaction():
            token.revoked_at = utcnow()
            await token.save(update_fields=["revoked_at"])
            await audit.record(actor, "token.revoked", details={"token": name})
    return token


class LiveToken(NamedTuple):
    """A token that may be used now."""

    id: int
    name: str


async def authenticate(plaintext: str) -> LiveToken:
    """The live token whose plaintext this is (one query; a write at most once a minute)."""
    return await _check(_digest(plaintext))


async def _check(digest: str) -> LiveToken:
    rows = await reads.fetch(
        "SELECT id, name, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1", digest
    )
    if not rows or rows[0]["revoked_at"] is not None:
        raise Unauthorized("invalid or revoked API token")
    token, last_used = rows[0], reads.utc(rows[0]["last_used_at"])
    now = utcnow()
    if last_used is None or now - last_used > TOUCH_EVERY:
        await ApiToken.filter(id=token["id"]).update(last_used_at=now)
    return LiveToken(token["id"], token["name"])


class TokenCache:
    """Live tokens by digest, each checked again after ``ttl`` seconds.

    A revoked token is refused by every process within ``ttl`` seconds of the revocation:
    an entry lasts ``ttl`` from the moment its check began. Concurrent misses of one token
    share one check. Only live tokens are kept, so the cache holds at most one entry each.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._live: dict[str, tuple[float, LiveToken]] = {}
        self._checks: dict[str, asyncio.Task[LiveToken]] = {}

    async def authenticate(self, plaintext: str) -> LiveToken:
        """The live token whose plaintext this is, from the cache while it is fresh."""
        digest = _digest(plaintext)
        hit = self._live.get(digest)
        if hit is not None and self._clock() < hit[0]:
            return hit[1]
        check = self._checks.get(digest)
        if check is None:
            check = self._checks[digest] = asyncio.ensure_future(self._fill(digest))
            check.add_done_callback(lambda _: self._checks.pop(digest, None))
        return await asyncio.shield(check)  # a cancelled caller leaves the others' check be

    async def _fill(self, digest: str) -> LiveToken:
        until = self._clock() + self._ttl
        self._live.pop(digest, None)
        token = await _check(digest)
        if self._ttl > 0:
            self._live[digest] = (until, token)
        return token
