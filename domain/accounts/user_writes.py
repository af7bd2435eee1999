"""A user's row and its audit event written together in one round trip (``db.writes``).

Both writes are conditional, so a concurrent change of the same user is never overwritten
unseen: ``create`` inserts only a user not stored yet, ``update`` changes only a row that
still holds the values the caller saw. Either answers whether it wrote; the caller reads
the row again and retries when it did not, and on its last try ``force``s the update, so
writers of contradicting profiles cannot starve each other.
"""

from db import writes
from db.models import User
from domain import audit


async def create(
    tg_id: int, fields: dict[str, str | None], actor: str, *, referred_by: int | None = None
) -> User | None:
    """Insert the user (invited by ``referred_by``) and its ``user.created`` event; ``None``
    when the user exists."""
    user = User(id=tg_id, referred_by_id=referred_by, **fields)
    table, columns, values = writes.insert_parts(user)
    insert = writes.insert_sql(table, columns) + " ON CONFLICT (id) DO NOTHING"
    event = audit.event(actor, "user.created", user_id=tg_id, details=fields)
    if not await writes.with_row(insert, values, event):
        return None
    writes.saved(user)
    return user


async def update(
    user: User,
    fields: dict[str, str | None],
    changed: dict[str, str | None],
    actor: str,
    *,
    force: bool = False,
) -> bool:
    """Write ``changed`` to the user and its ``user.updated`` event, if the row still holds
    the values of ``user`` in every one of ``fields``; whether it did (then ``user`` is up
    to date). ``force``: write every one of ``fields``, whatever the row holds."""
    seen = {} if force else {name: getattr(user, name) for name in fields}
    before = {name: getattr(user, name) for name in changed}
    written = fields if force else changed
    user.update_from_dict(written)
    sets, values = writes.update_parts(user, [*written, "updated_at"])
    column = User._meta.fields_db_projection
    same = "IS" if writes.on_sqlite() else "IS NOT DISTINCT FROM"  # NULL-safe equality
    first = len(values) + 2
    held = "".join(f" AND {column[n]} {same} ${first + i}" for i, n in enumerate(seen))
    update_sql = f"UPDATE {User._meta.db_table} SET {sets} WHERE id = ${first - 1}{held}"
    event = audit.event(actor, "user.updated", user_id=user.id, details=changed)
    if await writes.with_row(update_sql, [*values, user.id, *seen.values()], event):
        return True
    user.update_from_dict(before)
    return False
