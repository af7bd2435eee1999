"""API tokens: created once (plaintext shown once), listed, revoked, checked."""

import hashlib
import re
import secrets
from datetime import timedelta

from tortoise.transactions import in_transaction

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


async def authenticate(plaintext: str) -> ApiToken:
    """The live token whose plaintext this is."""
    token = await ApiToken.get_or_none(token_hash=_digest(plaintext))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked API token")
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_EVERY:
        token.last_used_at = now
        await ApiToken.filter(id=token.id).update(last_used_at=now)
    return token
