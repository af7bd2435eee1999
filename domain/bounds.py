"""Limits of every number and date the service accepts, whichever transport it came through.

The API's field types, the bot's callback data and the domain's own checks all read these, so
an out-of-range value is refused where it enters and can never overflow a database column or
Python's ``datetime`` further in.
"""

from datetime import UTC, datetime, timedelta

from domain.errors import Invalid

# Telegram user ids fit in 52 bits (Telegram promises it; JavaScript clients rely on it).
MAX_TG_ID = 2**53 - 1
# Key, server and API-token ids are 32-bit columns on PostgreSQL.
MAX_ROW_ID = 2**31 - 1
# Broadcast, notice and audit ids are 64-bit columns (SQLite's INTEGER is 64-bit too).
MAX_BIG_ID = 2**63 - 1
# Outline's server is JavaScript: byte counts beyond 2**53 lose precision there.
MAX_BYTES = 2**53 - 1
MAX_DAYS = 36500
MIN_YEAR, MAX_YEAR = 1970, 8999
# Every expiry lies strictly between these: years 1970-8999 in any timezone. Far from
# ``datetime``'s own limits, so any later arithmetic (reminders, periods) stays safe.
EARLIEST = datetime(MIN_YEAR - 1, 12, 31, tzinfo=UTC)
LATEST = datetime(MAX_YEAR + 1, 1, 2, tzinfo=UTC)


class ExpiryOutOfRange(Invalid):
    """An expiry (given, or reached by extending) outside the years 1970-8999."""

    code = "expiry_out_of_range"


def in_range(value: int, maximum: int) -> bool:
    """Whether ``value`` can be an id of a column that holds ids up to ``maximum``."""
    return 1 <= value <= maximum


def check_days(days: int, *, field: str = "days") -> int:
    """``days`` if it is a whole number of days from 1 to ``MAX_DAYS``."""
    if not 1 <= days <= MAX_DAYS:
        raise Invalid(f"{field} must be between 1 and {MAX_DAYS}", field=field)
    return days


def check_bytes(value: int | None, *, field: str = "traffic_limit") -> int | None:
    """``value`` if it is ``None`` or a byte count from 0 to ``MAX_BYTES``."""
    if value is not None and not 0 <= value <= MAX_BYTES:
        raise Invalid(f"{field} must be between 0 and {MAX_BYTES} bytes", field=field)
    return value


def check_expiry(value: datetime | None, *, field: str = "valid_until") -> datetime | None:
    """``value`` if it is ``None`` or a timezone-aware moment in the years 1970-8999."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise Invalid(f"{field} must carry a timezone", field=field)
    if not EARLIEST < value < LATEST:
        raise ExpiryOutOfRange(f"{field} must lie in the years {MIN_YEAR}-{MAX_YEAR}", field=field)
    return value


def extended(start: datetime, days: int, *, field: str = "days") -> datetime:
    """``start`` plus ``days``; an expiry that would pass the year 8999 is refused."""
    check_days(days, field=field)
    if start >= LATEST - timedelta(days=days):
        raise ExpiryOutOfRange(f"the expiry would pass the year {MAX_YEAR}", field=field)
    return start + timedelta(days=days)
