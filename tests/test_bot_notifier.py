"""The worker's Messenger on Telegram: every notice kind rendered in the owner's language, and
Bot API refusals mapped to what the outbox expects."""

from datetime import timedelta
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import SendMessage

from bot.notices import RUNNING_OUT, notice_text
from bot.notifier import TelegramMessenger
from bot.setup import build_i18n
from db.models import VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.keys import changes, issuing
from domain.notices.delivery import deliver_notices
from domain.notices.messenger import RecipientBlocked, RetryLater
from domain.notices.ratelimit import RateLimiter
from domain.notices.reminders import send_reminders
from domain.servers import registry
from domain.settings import GIB
from tests.bot_fixtures import FIXED_NOW, TOKEN, RecordingSession, buttons

PAYLOAD = {
    "key_id": 7,
    "key_name": "home <1>",
    "server": "alpha",
    "valid_until": "2030-01-04T12:00:00Z",  # three days after FIXED_NOW
    "traffic_limit": 10 * GIB,
    "traffic_used": 17 * GIB // 2,  # 85 %
}
# Payload changes per kind: the day-before reminder of a key with 23 h 35 min left.
OVERRIDES: dict[str, dict[str, Any]] = {"expires_1d": {"valid_until": "2030-01-02T11:35:00Z"}}
EXPECTED = {
    "expires_3d": (
        "⏰ Your key “home &lt;1&gt;” expires on 4 January 2030, 12:00 (3 days left).",
        "⏰ Срок действия ключа «home &lt;1&gt;» истекает 4 января 2030, 12:00 (осталось: 3 дня).",
    ),
    "expires_1d": (
        "⏰ Your key “home &lt;1&gt;” expires on 2 January 2030, 11:35 "
        "(23 hours 35 minutes left).",
        "⏰ Срок действия ключа «home &lt;1&gt;» истекает 2 января 2030, 11:35 "
        "(осталось: 23 часа 35 минут).",
    ),
    "expired": (
        "⏰ Your key “home &lt;1&gt;” has expired and no longer works.",
        "⏰ Срок действия ключа «home &lt;1&gt;» истёк, он больше не работает.",
    ),
    "traffic_80": (
        "📊 Your key “home &lt;1&gt;” has used 85% of its traffic: 8.5 GB of 10 GB.",
        "📊 Ключ «home &lt;1&gt;» израсходовал 85\xa0% трафика: 8,5 ГБ из 10 ГБ.",
    ),
    "quota_reached": (
        "📊 Your key “home &lt;1&gt;” has used all of its traffic (8.5 GB of 10 GB) "
        "and is paused.",
        "📊 Ключ «home &lt;1&gt;» израсходовал весь трафик (8,5 ГБ из 10 ГБ) и приостановлен.",
    ),
    "key_created": (
        "🔑 You have a new key “home &lt;1&gt;” on alpha.",
        "🔑 У вас новый ключ «home &lt;1&gt;» на сервере alpha.",
    ),
    "key_extended": (
        "✅ Your key “home &lt;1&gt;” is now valid until 4 January 2030, 12:00.",
        "✅ Ваш ключ «home &lt;1&gt;» теперь действует до 4 января 2030, 12:00.",
    ),
    "key_limit_changed": (
        "📏 The traffic limit of your key “home &lt;1&gt;” is now 10 GB.",
        "📏 Лимит трафика ключа «home &lt;1&gt;» теперь 10 ГБ.",
    ),
    "key_disabled": (
        "⛔ Your key “home &lt;1&gt;” has been disabled.",
        "⛔ Ваш ключ «home &lt;1&gt;» отключён.",
    ),
    "key_enabled": (
        "▶️ Your key “home &lt;1&gt;” works again.",
        "▶️ Ваш ключ «home &lt;1&gt;» снова работает.",
    ),
    "key_reopened": (
        "▶️ Your key “home &lt;1&gt;” works again.",
        "▶️ Ваш ключ «home &lt;1&gt;» снова работает.",
    ),
    "key_refreshed": (
        "🔄 Your key “home &lt;1&gt;” was replaced by a new one; the old one no longer works.",
        "🔄 Ваш ключ «home &lt;1&gt;» заменён новым, старый больше не работает.",
    ),
    "key_deleted": (
        "🗑 Your key “home &lt;1&gt;” has been deleted.",
        "🗑 Ваш ключ «home &lt;1&gt;» удалён.",
    ),
}


@pytest.fixture
async def messenger(db: str) -> tuple[TelegramMessenger, RecordingSession]:
    """A messenger on a recording bot, with Ann (en) and Boris (ru) registered."""
    await users.upsert_user(UserProfile(id=100, first_name="Ann", language_code="en"), actor="t")
    await users.upsert_user(UserProfile(id=200, first_name="B", language_code="ru"), actor="t")
    session = RecordingSession()
    bot = Bot(TOKEN, session=session)
    return TelegramMessenger(bot, build_i18n(), clock=lambda: FIXED_NOW), session


async def send(messenger: TelegramMessenger, user_id: int, lang: str | None, kind: str, **p: Any):
    await messenger.send_notice(user_id=user_id, language=lang, kind=kind, payload=PAYLOAD | p)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
async def test_every_notice_kind_is_rendered_in_english_and_russian(messenger, kind) -> None:
    sender, session = messenger
    await send(sender, 100, "en", kind, **OVERRIDES.get(kind, {}))
    await send(sender, 200, "ru", kind, **OVERRIDES.get(kind, {}))
    en, ru = session.requests
    assert isinstance(en, SendMessage) and isinstance(ru, SendMessage)
    assert (en.chat_id, en.text) == (100, EXPECTED[kind][0])
    assert (ru.chat_id, ru.text) == (200, EXPECTED[kind][1])
    if kind == "key_deleted":
        assert en.reply_markup is None
    elif kind in RUNNING_OUT:  # worth extending: the Extend button comes first
        assert buttons(en.reply_markup) == [
            [("💳 Extend", "p:plans:0:7:0"), ("🔑 Open the key", "k:show:7")]
        ]
        assert buttons(ru.reply_markup)[0][0] == ("💳 Продлить", "p:plans:0:7:0")
    else:
        assert buttons(en.reply_markup) == [[("🔑 Open the key", "k:show:7")]]
        assert buttons(ru.reply_markup) == [[("🔑 Открыть ключ", "k:show:7")]]


async def test_broadcast_text_goes_out_as_written(messenger) -> None:
    sender, session = messenger
    await send(sender, 200, None, "broadcast", text="<b>Работы</b> в 22:00")
    (call,) = session.requests
    assert (call.chat_id, call.text, call.reply_markup) == (200, "<b>Работы</b> в 22:00", None)


def test_odd_payloads_still_read_well() -> None:
    i18n, now = build_i18n(), FIXED_NOW
    with i18n.context(), i18n.use_locale("en"):
        assert notice_text("key_extended", {"key_name": "k", "valid_until": None}, now) == (
            "✅ Your key “k” no longer expires."
        )
        assert notice_text("key_limit_changed", {"key_name": "k", "traffic_limit": None}, now) == (
            "📏 Your key “k” no longer has a traffic limit."
        )
        assert notice_text("something_new", {"key_id": 3}, now) == "ℹ️ Your key “3” has changed."
    with i18n.context(), i18n.use_locale("ru"):
        text = notice_text("key_limit_changed", {"key_name": "k", "traffic_limit": None}, now)
        assert text == "📏 У ключа «k» больше нет лимита трафика."  # not "теперь без лимита"


async def test_bot_api_refusals_become_outbox_signals(messenger) -> None:
    sender, session = messenger
    session.errors[100] = (403, "Forbidden: bot was blocked by the user")
    with pytest.raises(RecipientBlocked):
        await send(sender, 100, "en", "expired")
    assert (await users.get_user(100)).bot_blocked_at is not None
    with pytest.raises(RecipientBlocked):  # not even tried again
        await send(sender, 100, "en", "expired")
    assert len(session.requests) == 1

    session.errors[200] = (429, "Too Many Requests: retry after 7")
    with pytest.raises(RetryLater) as flood:
        await send(sender, 200, "ru", "expired")
    assert flood.value.seconds == 7.0
    session.errors[200] = (400, "Bad Request: chat not found")
    with pytest.raises(RecipientBlocked):
        await send(sender, 200, "ru", "expired")
    await users.set_bot_blocked(200, False)
    session.errors[200] = (400, "Bad Request: message text is empty")
    with pytest.raises(TelegramBadRequest):  # a failed attempt the outbox retries with backoff
        await send(sender, 200, "ru", "expired")
    with pytest.raises(RecipientBlocked):
        await send(sender, 999, "en", "expired")  # nobody we know
    sender.close()
    with pytest.raises(RetryLater):
        await send(sender, 200, "ru", "expired")


async def test_admin_changes_reach_the_owner_through_the_outbox(
    messenger, server, bot_ctx: Context
) -> None:
    sender, session = messenger
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="home", actor="tg:900")
    await changes.extend_key(bot_ctx, key_id=key.id, server=None, days=30, actor="tg:900")
    await changes.rename_key(bot_ctx, key_id=key.id, server=None, name="x", actor="tg:100")
    limiter = RateLimiter(rate=1000, chat_interval=0)
    while await deliver_notices(bot_ctx, sender, limiter):
        pass
    texts = [r.text for r in session.requests]
    assert texts == [
        "🔑 You have a new key “home” on alpha.",
        "✅ Your key “home” is now valid until 31 January 2030, 12:00.",
    ]
    assert await VPNKey.filter(owner_id=100).count() == 1


async def test_reminders_say_the_time_really_left(messenger, server, bot_ctx: Context) -> None:
    sender, session = messenger
    await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="two", days=2, actor="t")
    soon = FIXED_NOW + timedelta(seconds=25)
    await issuing.create_key(
        bot_ctx, server="alpha", tg_id=200, name="short", valid_until=soon, actor="t"
    )
    assert await send_reminders(bot_ctx) == 2
    limiter = RateLimiter(rate=1000, chat_interval=0)
    while await deliver_notices(bot_ctx, sender, limiter):
        pass
    reminders = {r.chat_id: r.text for r in session.requests if "⏰" in r.text}
    assert reminders == {
        100: "⏰ Your key “two” expires on 3 January 2030, 12:00 (2 days left).",
        200: "⏰ Срок действия ключа «short» истекает 1 января 2030, 12:00 "
        "(осталось меньше минуты).",
    }


async def test_a_cut_key_that_reopens_tells_its_owner_whoever_reopened_it(
    messenger, server, bot_ctx: Context
) -> None:
    sender, session = messenger
    past = FIXED_NOW - timedelta(hours=1)
    expired = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="old", valid_until=past, actor="t"
    )
    full = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="full", traffic_limit=0, actor="t"
    )
    assert not expired.is_active and not full.is_active
    await changes.extend_key(bot_ctx, key_id=expired.id, server=None, days=30, actor="tg:900")
    await changes.set_traffic_limit(  # the owner's own change (as a payment would make it)
        bot_ctx, key_id=full.id, server=None, traffic_limit=GIB, actor="tg:100"
    )
    before = len(session.requests)
    while await deliver_notices(bot_ctx, sender, RateLimiter(rate=1000, chat_interval=0)):
        pass
    sent = [(r.text, buttons(r.reply_markup)) for r in session.requests[before:]]
    assert sent[-3:] == [
        ("✅ Your key “old” is now valid until 31 January 2030, 12:00.", open_key(expired.id)),
        ("▶️ Your key “old” works again.", open_key(expired.id)),
        ("▶️ Your key “full” works again.", open_key(full.id)),
    ]


def open_key(key_id: int) -> list[list[tuple[str, str]]]:
    return [[("🔑 Open the key", f"k:show:{key_id}")]]


async def test_a_new_key_notice_names_the_servers_title(
    messenger, server, bot_ctx: Context
) -> None:
    sender, session = messenger
    await registry.set_server_title("alpha", "🇩🇪 Frankfurt", actor="cli")
    await issuing.create_key(bot_ctx, server="alpha", tg_id=200, name="дом", actor="api:x")
    while await deliver_notices(bot_ctx, sender, RateLimiter(rate=1000, chat_interval=0)):
        pass
    (notice,) = session.requests
    assert notice.text == "🔑 У вас новый ключ «дом» на сервере 🇩🇪 Frankfurt."
