"""Telegram users: registration, look-up, language and reachability."""

import re
from dataclasses import asdict, dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from db import reads
from db.models import User
from domain import audit
from domain.bounds import MAX_TG_ID, in_range
from domain.context import utcnow
from domain.errors import Invalid, NotFound

LANGUAGES = ("en", "ru")
# An id look-up: ASCII digits only (``str.isdigit`` also takes "²", which ``int`` refuses).
_NUMERIC = re.compile(r"-?[0-9]{1,20}")
# ``/start ref_<code>``: the deep link of the user (``User.referral_code``) who invited this one.
REFERRAL_PREFIX = "ref_"


@dataclass(frozen=True, slots=True)
class UserProfile:
    """What Telegram (or the API caller) tells us about a user."""

    id: int
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


async def upsert_user(
    profile: UserProfile, *, actor: str, start_payload: str | None = None
) -> User:
    """Create the user or update the profile fields that changed."""
    if not in_range(profile.id, MAX_TG_ID):
        raise Invalid("user id must be a positive Telegram id", field="id")
    fields = {k: v for k, v in asdict(profile).items() if k != "id"}
    if profile.language_code is None:
        fields.pop("language_code")
    if start_payload is not None:
        fields["start_payload"] = start_payload
    _check_text(fields)
    for _ in range(2):  # a concurrent first insert loses the race once at most
        try:
            async with in_transaction():
                return await _write_user(profile.id, fields, actor)
        except IntegrityError:
            continue
    raise Invalid("user could not be saved", field="id")


def _check_text(fields: dict[str, str | None]) -> None:
    """Every text fits its column and holds no NUL (PostgreSQL cannot store one)."""
    for name, value in fields.items():
        if value is None:
            continue
        limit = User._meta.fields_map[name].max_length
        if len(value) > limit or "\x00" in value:
            raise Invalid(f"{name} must be at most {limit} characters, without NUL", field=name)


async def _write_user(tg_id: int, fields: dict[str, str | None], actor: str) -> User:
    user = await User.get_or_none(id=tg_id)
    if user is None:
        user = await User.create(id=tg_id, referred_by_id=await _referrer(fields), **fields)
        await audit.record(actor, "user.created", user_id=tg_id, details=fields)
        return user
    changed = {k: v for k, v in fields.items() if getattr(user, k) != v}
    if changed:
        user.update_from_dict(changed)
        await user.save(update_fields=[*changed, "updated_at"])
        await audit.record(actor, "user.updated", user_id=tg_id, details=changed)
    return user


async def _referrer(fields: dict[str, str | None]) -> int | None:
    """The user whose referral link a new user came with (only a new user can be referred)."""
    payload = fields.get("start_payload") or ""
    if not payload.startswith(REFERRAL_PREFIX):
        return None
    code = payload.removeprefix(REFERRAL_PREFIX)
    return await User.filter(referral_code=code).first().values_list("id", flat=True)


async def get_user(tg_id: int) -> User:
    """The user with Telegram id ``tg_id``."""
    user = await User.get_or_none(id=tg_id) if in_range(tg_id, MAX_TG_ID) else None
    if user is None:
        raise NotFound(f"user {tg_id} not found", user=tg_id)
    return user


async def user_row(tg_id: int) -> dict[str, Any]:
    """The user as a plain row, in one query: the fields of the API's user object."""
    rows = await reads.fetch(
        "SELECT id, first_name, last_name, username, language_code, demo_issued_at, "
        "created_at, updated_at FROM users WHERE id = $1",
        tg_id,
    )
    if not rows:
        raise NotFound(f"user {tg_id} not found", user=tg_id)
    row = rows[0]
    return {
        "id": row["id"],
        "first_name": row["first_name"],
        "last_name": row["last_name"],
        "username": row["username"],
        "language_code": row["language_code"],
        "has_demo": row["demo_issued_at"] is not None,
        "created_at": reads.utc(row["created_at"]),
        "updated_at": reads.utc(row["updated_at"]),
    }


async def find_user(query: str) -> User:
    """A user by numeric id or ``@username`` (case-insensitive)."""
    query = query.strip()
    if _NUMERIC.fullmatch(query):
        return await get_user(int(query))
    user = await User.filter(username__iexact=query.removeprefix("@")).first()
    if user is None:
        raise NotFound(f"user {query!r} not found", user=query)
    return user


async def set_language(tg_id: int, language: str, *, actor: str) -> User:
    """Store the user's chosen interface language."""
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    user = await get_user(tg_id)
    async with in_transaction():
        user.language_code = language
        await user.save(update_fields=["language_code", "updated_at"])
        await audit.record(actor, "user.language", user_id=tg_id, details={"language": language})
    return user


async def set_bot_blocked(tg_id: int, blocked: bool) -> None:
    """Remember whether the user blocked the bot (no messages while blocked)."""
    await User.filter(id=tg_id).update(bot_blocked_at=utcnow() if blocked else None)
