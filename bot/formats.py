"""Numbers, sizes, dates and spans of time in the reader's language (babel, CLDR data).

Dates are shown in the operator's ``DISPLAY_TIMEZONE``; ``use_timezone`` sets it for the
update or notice being rendered (a context variable, so concurrent updates never mix).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta, tzinfo

from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram.utils.i18n.context import get_i18n
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

from domain.notices.reminders import TimeLeft, time_left

DATE_FORMAT = "d MMMM y, HH:mm"  # 3 December 2026, 14:00 · 3 декабря 2026, 14:00
DAY_FORMAT = "d MMMM y"  # 3 December 2026 · 3 декабря 2026
_timezone: ContextVar[tzinfo] = ContextVar("display_timezone", default=UTC)


@contextmanager
def use_timezone(zone: tzinfo) -> Iterator[None]:
    """Show dates in ``zone`` inside the ``with`` block."""
    token = _timezone.set(zone)
    try:
        yield
    finally:
        _timezone.reset(token)


def locale() -> str:
    """The language of the text being rendered."""
    return get_i18n().current_locale


def fmt_number(value: float) -> str:
    """``1.5`` → ``1.5`` / ``1,5``; whole numbers without ``.0``."""
    return format_decimal(value, format="#,##0.#", locale=locale())


def fmt_bytes(size: int) -> str:
    """``1536`` → ``1.5 KB`` (binary multiples, translated unit names)."""
    units = (_("B"), _("KB"), _("MB"), _("GB"), _("TB"))
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{fmt_number(int(value) if unit == 0 else value)} {units[unit]}"


def fmt_percent(part: int, whole: int) -> str:
    """The whole percent ``part`` is of ``whole``, rounded down (85 % is never "86 %")."""
    return format_percent(part * 100 // whole / 100 if whole else 0, locale=locale())


def display_zone() -> tzinfo:
    """The time zone dates are shown in now."""
    return _timezone.get()


def fmt_day(day: date) -> str:
    """``3 December 2026``: a calendar day (already in the display time zone)."""
    return format_date(day, DAY_FORMAT, locale=locale())


def fmt_date(moment: datetime) -> str:
    """``3 December 2026, 14:00`` in the display time zone and the reader's language."""
    return format_datetime(moment, DATE_FORMAT, tzinfo=_timezone.get(), locale=locale())


def _largest_two(left: TimeLeft) -> str:
    units = (
        (left.days, ngettext("{n} day", "{n} days", left.days)),
        (left.hours, ngettext("{n} hour", "{n} hours", left.hours)),
        (left.minutes, ngettext("{n} minute", "{n} minutes", left.minutes)),
    )
    first = next(i for i, (amount, _form) in enumerate(units) if amount)
    return " ".join(form.format(n=n) for n, form in units[first : first + 2] if n)


def fmt_duration(delta: timedelta) -> str:
    """``2 days 5 hours`` (the two largest units), at least ``1 minute``."""
    left = time_left(max(delta, timedelta(minutes=1)))
    assert left is not None
    return _largest_two(left)


def fmt_left(delta: timedelta) -> str:
    """``2 days 5 hours left`` (the two largest units), or ``less than a minute left``."""
    left = time_left(delta)
    if left is None:
        return _("less than a minute left")
    return _("{time} left").format(time=_largest_two(left))
