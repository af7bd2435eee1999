"""Telegram users: registration, look-up, language and reachability."""

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from db import reads
from db.models import User
from domain import audit
from domain.accounts import user_writes
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


class _Unseen:
    """The caller did not look the user up."""


UNSEEN = _Unseen()
_PROFILE = tuple(f.name for f in dataclasses.fields(UserProfile) if f.name != "id")
_ATTEMPTS = 3
_COLUMNS = ", ".join(User._meta.fields_db_projection.values())


async def upsert_user(
    profile: UserProfile,
    *,
    actor: str,
    start_payload: str | None = None,
    seen: User | _Unseen | None = UNSEEN,
) -> User:
    """Create the user or update the profile fields that changed, with the audit event: one
    round trip to the database (none when nothing changed).

    ``seen`` is the user as the caller has just read it (``None``: not stored yet); it is
    not read again. A concurrent change of the same user makes the write read and retry.
    """
    if not in_range(profile.id, MAX_TG_ID):
        raise Invalid("user id must be a positive Telegram id", field="id")
    given = {name: getattr(profile, name) for name in _PROFILE}
    if profile.language_code is None:
        given.pop("language_code")
    if start_payload is not None:
        given["start_payload"] = start_payload
    _check_text(given)
    user = await stored_user(profile.id) if isinstance(seen, _Unseen) else seen
    for attempt in range(_ATTEMPTS):  # each retry follows a concurrent change of this user
        if user is None:
            referrer = await _referrer(given)  # a query only for a referral link
            created = await user_writes.create(profile.id, given, actor, referred_by=referrer)
            if created is not None:
                return created
        else:
            changed = {k: v for k, v in given.items() if getattr(user, k) != v}
            last = attempt == _ATTEMPTS - 1
            if not changed or await user_writes.update(user, given, changed, actor, force=last):
                return user
        user = await stored_user(profile.id)
    raise Invalid("user could not be saved", field="id")


def _check_text(fields: dict[str, str | None]) -> None:
    """Every text fits its column and holds no NUL (PostgreSQL cannot store one)."""
    for name, value in fields.items():
        if value is None:
            continue
        limit = User._meta.fields_map[name].max_length
        if len(value) > limit or "\x00" in value:
            raise Invalid(f"{name} must be at most {limit} characters, without NUL", field=name)


async def stored_user(tg_id: int) -> User | None:
    """The user with Telegram id ``tg_id``, or ``None`` (one plain query)."""
    if not in_range(tg_id, MAX_TG_ID):
        return None
    rows = await reads.fetch(f"SELECT {_COLUMNS} FROM users WHERE id = $1", tg_id)
    return reads.as_model(User, rows[0]) if rows else None


async def _referrer(fields: dict[str, str | None]) -> int | None:
    """The user whose referral link a new user came with (only a new user can be referred)."""
    payload = fields.get("start_payload") or ""
    if not payload.startswith(REFERRAL_PREFIX):
        return None
    code = payload.removeprefix(REFERRAL_PREFIX)
    return await User.filter(referral_code=code).first().values_list("id", flat=True)


async def get_user(tg_id: int) -> User:
    """The user with Telegram id ``tg_id``."""
    user = await stored_user(tg_id)
    if user is None:
        raise NotFound(f"user {tg_id} not found", user=tg_id)
    return user


async def user_row(tg_id: int) -> dict[str, Any]:
    """The user as a plain row, in one query: the fields of the API's user object."""
    rows = []
    if in_range(tg_id, MAX_TG_ID):
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
