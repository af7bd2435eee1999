"""Field types of the API's request models: each validates exactly what its JSON schema says."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema

from domain.bounds import MAX_BYTES, MAX_DAYS, MAX_ROW_ID, MAX_TG_ID

# PostgreSQL text cannot hold NUL, so no string field accepts it.
NO_NUL = r"^[^\x00]*$"
# At least one non-whitespace character (key names are stripped before use).
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"
SERVER_NAME = r"^[a-z0-9][a-z0-9_-]{0,31}$"
# Years 1970-8999 (``domain.bounds``): far from datetime's limits after conversion and extension.
YEAR = r"^(19[7-9][0-9]|[2-8][0-9]{3})-"
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _integral(value: object) -> object:
    """JSON Schema counts 216.0 as an integer, so the API does too (strict mode would not)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


INTEGRAL = BeforeValidator(_integral)
TgId = Annotated[int, Field(ge=1, le=MAX_TG_ID, description="Telegram user id"), INTEGRAL]
KeyId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, description="key id (`token_id`)"), INTEGRAL]
PaymentId = Annotated[int, Field(ge=1, le=MAX_ROW_ID, description="payment id"), INTEGRAL]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS), INTEGRAL]
Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES, description="bytes"), INTEGRAL]
ServerName = Annotated[
    str, StringConstraints(pattern=SERVER_NAME), Field(description="server name (`srv_name`)")
]
KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]


def text(max_length: int) -> Any:
    """A string of at most ``max_length`` characters without NUL."""
    return Annotated[str, StringConstraints(max_length=max_length, pattern=NO_NUL)]


def _utc_moment(value: str, *, days_after: int) -> datetime:
    """An RFC 3339 date-time in UTC, or UTC midnight ``days_after`` a bare date."""
    try:
        if _DATE.fullmatch(value):
            day = date.fromisoformat(value) + timedelta(days=days_after)
            return datetime.combine(day, time(), UTC)
        if _DATE_TIME.fullmatch(value):
            return datetime.fromisoformat(value.upper()).astimezone(UTC)
    except ValueError:
        raise ValueError("not a real calendar date or time") from None
    raise ValueError("must be YYYY-MM-DD or an RFC 3339 date-time such as 2026-12-31T12:00:00Z")


def parse_valid_until(value: object) -> datetime | None:
    """A UTC datetime from an RFC 3339 date-time, or the end of a bare date's UTC day."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a date (YYYY-MM-DD), a date-time with a timezone, or null")
    if not re.match(YEAR, value):
        raise ValueError("year must be between 1970 and 8999")
    # Valid through the whole UTC day: the key stops at the next midnight.
    return _utc_moment(value, days_after=1)


_VALID_UNTIL_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date", "pattern": YEAR},
        {"type": "string", "format": "date-time", "pattern": YEAR},
        {"type": "null"},
    ],
    "description": "a date (valid through the end of that UTC day), an RFC 3339 date-time "
    "with a timezone, or null for no expiry; years 1970-8999",
    "examples": ["2026-12-31", "2026-12-31T12:00:00Z"],
}
ValidUntil = Annotated[
    datetime | None,
    BeforeValidator(parse_valid_until),
    WithJsonSchema(_VALID_UNTIL_SCHEMA, mode="validation"),
]


def parse_moment(value: object) -> datetime | None:
    """A UTC datetime from an RFC 3339 date-time, or the start of a bare date's UTC day."""
    if value is None:
        return None
    if not isinstance(value, str) or not re.match(YEAR, value):
        raise ValueError("must be YYYY-MM-DD or an RFC 3339 date-time; years 1970-8999")
    return _utc_moment(value, days_after=0)


Moment = Annotated[
    datetime | None,
    BeforeValidator(parse_moment),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date", "pattern": YEAR},
                {"type": "string", "format": "date-time", "pattern": YEAR},
            ],
            "description": "a date (from the start of that UTC day) or an RFC 3339 date-time "
            "with a timezone; years 1970-8999",
        },
        mode="validation",
    ),
]
