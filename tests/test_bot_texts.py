"""How the bot writes numbers, sizes, dates and spans of time: the reader's language (babel),
the operator's time zone, every count with its plural form."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError

from bot.admin_texts import stats
from bot.formats import fmt_bytes, fmt_left
from bot.setup import build_i18n
from domain.context import Context
from domain.keys import issuing
from domain.servers.stats import ServerStats, Stats
from domain.settings import GIB
from tests.bot_fixtures import ANN, BORIS, BotHarness, bot_settings

I18N = build_i18n()


def render(locale: str, text: Callable[[], str]) -> str:
    with I18N.context(), I18N.use_locale(locale):
        return text()


@pytest.mark.parametrize(
    ("n", "days", "hours", "minutes"),
    [
        (1, "1 день", "1 час", "1 минута"),
        (2, "2 дня", "2 часа", "2 минуты"),
        (5, "5 дней", "5 часов", "5 минут"),
        (11, "11 дней", "11 часов", "11 минут"),
        (21, "21 день", "21 час", "21 минута"),
        (22, "22 дня", "22 часа", "22 минуты"),
    ],
)
def test_time_left_has_every_russian_plural_form(n, days, hours, minutes) -> None:
    assert render("ru", lambda: fmt_left(timedelta(days=n))) == f"осталось: {days}"
    if n < 24:
        assert render("ru", lambda: fmt_left(timedelta(hours=n))) == f"осталось: {hours}"
    assert render("ru", lambda: fmt_left(timedelta(minutes=n))) == f"осталось: {minutes}"


def test_time_left_says_the_two_largest_units_in_english() -> None:
    cases = {
        timedelta(days=1): "1 day left",
        timedelta(days=2, hours=5, minutes=9): "2 days 5 hours left",
        timedelta(days=21, minutes=3): "21 days left",
        timedelta(hours=1, minutes=1): "1 hour 1 minute left",
        timedelta(minutes=22, seconds=59): "22 minutes left",
        timedelta(seconds=25): "less than a minute left",
        timedelta(seconds=-5): "less than a minute left",
    }
    for span, text in cases.items():
        assert render("en", lambda span=span: fmt_left(span)) == text
    assert render("ru", lambda: fmt_left(timedelta(seconds=25))) == "осталось меньше минуты"


def test_sizes_use_the_readers_decimal_mark_and_drop_a_zero_fraction() -> None:
    sizes = (0, 512, GIB, 3 * GIB // 2, 10 * GIB, 1536 * GIB)
    assert [render("en", lambda s=s: fmt_bytes(s)) for s in sizes] == [
        "0 B", "512 B", "1 GB", "1.5 GB", "10 GB", "1.5 TB",
    ]  # fmt: skip
    assert [render("ru", lambda s=s: fmt_bytes(s)) for s in sizes] == [
        "0 Б", "512 Б", "1 ГБ", "1,5 ГБ", "10 ГБ", "1,5 ТБ",
    ]  # fmt: skip


def test_admin_statistics_count_keys_with_plural_forms() -> None:
    def figures(n: int) -> Stats:
        return Stats(3, 0, 1, [ServerStats("alpha", True, n, n, GIB)])

    assert render("en", lambda: stats(figures(1))).endswith("<b>alpha</b>: 1 key, 1 active, 1 GB")
    assert render("en", lambda: stats(figures(2))).endswith("2 keys, 2 active, 1 GB")
    endings = {
        1: "1 ключ",
        2: "2 ключа",
        5: "5 ключей",
        11: "11 ключей",
        21: "21 ключ",
        22: "22 ключа",
    }
    for n, keys in endings.items():
        assert render("ru", lambda n=n: stats(figures(n))).endswith(
            f"<b>alpha</b>: {keys}, активных: {n}, 1 ГБ"
        )


async def test_dates_are_human_in_the_display_time_zone_and_the_readers_language(
    make_harness: Callable[..., BotHarness], server, bot_ctx: Context
) -> None:
    tg = make_harness(display_timezone="Europe/Moscow")
    for user in (ANN, BORIS):
        await tg.as_user(user).send("/start")
        await issuing.create_key(
            bot_ctx, server="alpha", tg_id=user.id, name="home", days=30, actor="t"
        )
    (en,) = await tg.as_user(ANN).send("/keys")
    assert "Valid: until 31 January 2030, 15:00 (30 days left)\n" in en.text
    (ru,) = await tg.as_user(BORIS).send("/keys")
    assert "Срок: до 31 января 2030, 15:00 (осталось: 30 дней)\n" in ru.text


def test_an_unknown_display_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        bot_settings(display_timezone="Mars/Olympus")
    assert bot_settings().display_timezone == "UTC"
