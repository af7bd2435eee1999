"""Reading the audit log: newest first, filtered by key, user, actor, action and time, paged."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from db.models import AuditEvent
from domain import bounds
from domain.errors import Invalid
from domain.redact import redact

MAX_PAGE = 500
_AGO = re.compile(r"([0-9]{1,6})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# The id columns each filter reads, and the largest id each holds.
_ID_LIMITS = {
    "key_id": bounds.MAX_ROW_ID,
    "user_id": bounds.MAX_TG_ID,
    "before": bounds.MAX_BIG_ID,
}


@dataclass(frozen=True)
class AuditQuery:
    """Which events to read; ``before`` is the id the previous page ended at."""

    key_id: int | None = None
    user_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditPage:
    """One page of events and the ``before`` cursor of the next (``None`` on the last)."""

    events: list[AuditEvent]
    next_before: int | None


def _scrubbed(value: Any) -> Any:
    """Details as stored, with anything URL-shaped hidden (URLs may carry credentials)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def parse_moment(text: str, now: datetime) -> datetime:
    """``2026-12-01``, ``2026-12-01T10:00:00+03:00`` (UTC when no zone) or an age: ``30m``,
    ``12h``, ``7d``."""
    if found := _AGO.fullmatch(text.strip()):
        try:
            return now - timedelta(**{_UNITS[found[2]]: int(found[1])})
        except OverflowError:  # e.g. 999999d: before the year 1
            raise Invalid(f"too far back (before the year 1): {text!r}") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise Invalid(f"not a date, a date-time or an age like 12h: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _check_ids(query: AuditQuery) -> None:
    """Refuse an id no row can have (it would overflow the database's integer)."""
    for name, maximum in _ID_LIMITS.items():
        value = getattr(query, name)
        if value is not None and not bounds.in_range(value, maximum):
            raise Invalid(f"{name} must be between 1 and {maximum}", field=name)


async def read_audit(query: AuditQuery) -> AuditPage:
    """The events matching ``query``, newest first."""
    _check_ids(query)
    found = AuditEvent.all()
    filters = {
        "key_id": query.key_id,
        "user_id": query.user_id,
        "actor": query.actor,
        "action": query.action,
        "at__gte": query.since,
        "at__lt": query.until,
        "id__lt": query.before,
    }
    found = found.filter(**{k: v for k, v in filters.items() if v is not None})
    limit = max(1, min(query.limit, MAX_PAGE))
    rows = await found.order_by("-id").limit(limit + 1)
    for row in rows:
        row.details = _scrubbed(row.details)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, rows[-1].id if more else None)
