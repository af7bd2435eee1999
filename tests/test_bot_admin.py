"""The admin panel: statistics, user look-up and key actions, server health — and silence
towards everyone who is not in ADMIN_IDS."""

import re
from datetime import timedelta

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage

from bot.notifier import TelegramMessenger
from bot.setup import build_i18n
from db.models import InactiveReason, KeyState, Notice, VPNKey
from domain.accounts import users
from domain.context import Context
from domain.keys import issuing
from domain.notices.delivery import deliver_notices
from domain.notices.ratelimit import RateLimiter
from domain.servers import registry
from domain.settings import GIB
from tests.bot_fixtures import ADMIN, ANN, BORIS, FIXED_NOW, BotHarness, buttons, outdated

ADMIN_MENU = [
    [("📊 Statistics", "a:stats"), ("🔎 Find a user", "a:find")],
    [("🩺 Server health", "a:health"), ("📣 Broadcast", "a:broadcast")],
    [("💰 Revenue", "a:revenue")],
]


@pytest.fixture
async def ann_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    """Ann and Boris registered; Ann holds a 30-day 10 GB key "home"."""
    for user in (ANN, BORIS, ADMIN):
        await tg.as_user(user).send("/start")
    return await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="home", days=30, traffic_limit=10 * GIB, actor="t"
    )


def admin_card(key: VPNKey, *, valid: str, traffic: str, status: str = "🟢 active") -> str:
    return (
        f"#{key.id} <b>{key.name}</b> — {status}\nOwner: 100\nServer: alpha\n"
        f"Valid: {valid}\nTraffic: {traffic}\nTrial key: no\n<code>{key.access_url}</code>"
    )


def admin_key_buttons(key_id: int, toggle: tuple[str, str] = ("⏸ Disable", "off")):
    return [
        [("+7 days", f"ak:ext7:{key_id}"), ("+30 days", f"ak:ext30:{key_id}")],
        [("📏 Set limit", f"ak:limit:{key_id}"), (toggle[0], f"ak:{toggle[1]}:{key_id}")],
        [("🔄 Refresh", f"ak:refresh:{key_id}"), ("🗑 Delete", f"ak:del:{key_id}")],
        [("🚚 Move to another server", f"ak:move:{key_id}")],
        [("« Back", "au:100")],
    ]


async def test_admin_menu_and_statistics(tg: BotHarness, ann_key: VPNKey) -> None:
    admin = tg.as_user(ADMIN)
    (menu,) = await admin.send("/admin")
    assert isinstance(menu, SendMessage) and menu.chat_id == ADMIN.id
    assert menu.text == "<b>Admin panel</b>\nChoose a section:"
    assert buttons(menu.reply_markup) == ADMIN_MENU
    await VPNKey.filter(id=ann_key.id).update(traffic_used=3 * GIB // 2)
    await users.set_bot_blocked(200, True)
    edit, _ = await admin.press("a:stats", message_id=9)
    assert isinstance(edit, EditMessageText) and edit.message_id == 9
    assert edit.text == (
        "<b>Statistics</b>\n"
        "Users: 3 (blocked the bot: 1, took the trial: 0)\n"
        "Live keys: 1 (active: 1)\n"
        "Traffic of live keys: 1.5 GB\n\n"
        "<b>alpha</b>: 1 key, 1 active, 1.5 GB"
    )
    assert buttons(edit.reply_markup) == [[("🔄 Update", "a:stats")], [("« Back", "a:menu")]]


async def test_admin_finds_a_user_by_username_and_by_id(tg: BotHarness, ann_key: VPNKey) -> None:
    admin = tg.as_user(ADMIN)
    ask, _ = await admin.press("a:find", message_id=9)
    assert ask.text == "Send a Telegram id or @username."
    assert buttons(ask.reply_markup) == [[("Cancel", "a:cancel")]]
    (missing,) = await admin.send("@nobody")
    assert (
        missing.text == "Not found — it may have been deleted.\n\n<i>user '@nobody' not found</i>"
    )
    (card,) = await admin.send("@ANN")
    assert isinstance(card, SendMessage)
    assert re.fullmatch(
        r"<b>Ann</b> \(<code>100</code>\)\nUsername: @ann\nLanguage: en\n"
        r"Registered: \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d\nTrial: not taken\n\n"
        rf"#{ann_key.id} <b>home</b> — 🟢 active",
        card.text,
    )
    assert buttons(card.reply_markup) == [
        [(f"🔑 #{ann_key.id} home", f"ak:show:{ann_key.id}")],
        [("➕ Issue a key", "ai:100:0")],
        [("« Back", "a:menu")],
    ]
    (hint,) = await admin.send("100")  # the question was answered: no second look-up
    assert hint.text == "Sorry, I don't understand that. Use the buttons below or send /help."
    edit, _ = await admin.press("au:100", message_id=9)
    assert edit.text == card.text


async def test_admin_extends_limits_disables_and_enables_a_key(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    admin = tg.as_user(ADMIN)
    edit, _ = await admin.press(f"ak:show:{ann_key.id}", message_id=9)
    valid30 = "until 31 January 2030, 12:00 (30 days left)"
    assert edit.text == admin_card(ann_key, valid=valid30, traffic="0 B of 10 GB")
    assert buttons(edit.reply_markup) == admin_key_buttons(ann_key.id)

    edit, _ = await admin.press(f"ak:ext7:{ann_key.id}", message_id=9)
    valid37 = "until 7 February 2030, 12:00 (37 days left)"
    assert edit.text == "✅ Extended by 7 days.\n\n" + admin_card(
        ann_key, valid=valid37, traffic="0 B of 10 GB"
    )
    assert (await VPNKey.get(id=ann_key.id)).valid_until == FIXED_NOW + timedelta(days=37)

    ask, _ = await admin.press(f"ak:limit:{ann_key.id}", message_id=9)
    assert ask.text == (
        f"Send the new traffic limit of #{ann_key.id} in GB (for example 50), or “-” for no limit."
    )
    assert buttons(ask.reply_markup) == [[("Cancel", f"ak:show:{ann_key.id}")]]
    (again,) = await admin.send("lots")
    assert again.text == "Send a number of GB such as 50, or “-” for no limit."
    card, done = await admin.send("50")
    assert isinstance(card, EditMessageText) and card.message_id == 9
    assert card.text == admin_card(ann_key, valid=valid37, traffic="0 B of 50 GB")
    assert done.text == "✅ Limit saved. The card above is up to date."
    assert (await VPNKey.get(id=ann_key.id)).traffic_limit == 50 * GIB
    assert outline_server.emulator.key_limit(ann_key.remote_id) == 50 * GIB

    edit, _ = await admin.press(f"ak:off:{ann_key.id}", message_id=9)
    assert edit.text.startswith(f"✅ Disabled.\n\n#{ann_key.id} <b>home</b> — ⛔ disabled")
    assert buttons(edit.reply_markup) == admin_key_buttons(ann_key.id, ("▶️ Enable", "on"))
    key = await VPNKey.get(id=ann_key.id)
    assert (key.is_active, key.inactive_reason) == (False, InactiveReason.MANUAL)
    assert outline_server.emulator.key_limit(ann_key.remote_id) == 0
    edit, _ = await admin.press(f"ak:on:{ann_key.id}", message_id=9)
    assert edit.text.startswith(f"✅ Enabled.\n\n#{ann_key.id} <b>home</b> — 🟢 active")
    assert (await VPNKey.get(id=ann_key.id)).is_active


async def test_admin_refreshes_deletes_and_issues_keys(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    admin = tg.as_user(ADMIN)
    edit, _ = await admin.press(f"ak:refresh:{ann_key.id}", message_id=9)
    new = await VPNKey.get(previous_id=ann_key.id)
    assert new.owner_id == 100 and new.access_url in edit.text
    assert edit.text.startswith(f"✅ Refreshed: this is the new key.\n\n#{new.id} <b>home</b>")

    ask, _ = await admin.press(f"ak:del:{new.id}", message_id=9)
    assert ask.text == f"Delete key #{new.id} “home”? This cannot be undone."
    assert buttons(ask.reply_markup) == [
        [("🗑 Yes, delete", f"ak:del_ok:{new.id}"), ("Cancel", f"ak:show:{new.id}")]
    ]
    done, _ = await admin.press(f"ak:del_ok:{new.id}", message_id=9)
    assert done.text == f"✅ Key #{new.id} deleted."
    assert buttons(done.reply_markup) == [[("« Back", "au:100")]]
    assert (await VPNKey.get(id=new.id)).state == KeyState.DELETED
    assert outline_server.emulator.keys == {}

    choose, _ = await admin.press("ai:100:0", message_id=9)
    assert choose.text == "New 30-day key for 100: choose a server."
    assert buttons(choose.reply_markup) == [
        [("🌍 alpha", f"ai:100:{ann_key.server_id}")],
        [("⚖️ Least loaded server", "ai:100:-1")],
        [("« Back", "au:100")],
    ]
    issued, _ = await admin.press(f"ai:100:{ann_key.server_id}", message_id=9)
    key = await VPNKey.get(owner_id=100, state=KeyState.LIVE)
    assert key.valid_until == FIXED_NOW + timedelta(days=30)
    # Named as her second key ("home" was her first; its refresh is the same key).
    assert issued.text.startswith(f"✅ Key issued.\n\n#{key.id} <b>Key 2</b> — 🟢 active")


async def test_admin_sees_server_health(tg: BotHarness, ann_key: VPNKey, outline_server) -> None:
    edit, _ = await tg.as_user(ADMIN).press("a:health", message_id=9)
    assert re.fullmatch(
        r"<b>Server health</b>\n🟢 <b>alpha</b>: reachable, \d+ ms, "
        r"1 key on the server, 1 live key here",
        edit.text,
    )
    outline_server.emulator.faults.fail_next(5, status=500)
    edit, _ = await tg.as_user(ADMIN).press("a:health", message_id=9)
    assert edit.text.startswith("<b>Server health</b>\n🔴 <b>alpha</b>: unreachable (")


async def test_admin_errors_are_translated_and_detailed(tg: BotHarness, ann_key: VPNKey) -> None:
    await users.set_language(ADMIN.id, "ru", actor="t")
    (alert,) = await tg.as_user(ADMIN).press("ak:show:424242")
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text == "Не найдено — возможно, это уже удалено.\n\nkey 424242 not found"


async def test_non_admins_get_no_answer_from_admin_handlers(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    ann = tg.as_user(ANN)
    # /admin gets exactly what any unknown command gets: nothing tells the panel exists.
    (admin,) = await ann.send("/admin")
    (unknown,) = await ann.send("/nosuchcommand")
    assert admin.text == unknown.text and admin.reply_markup == unknown.reply_markup
    for data in (
        "a:menu",
        "a:stats",
        "a:find",
        "a:health",
        "a:broadcast",
        "au:100",
        "ai:100:0",
        f"ai:100:{ann_key.server_id}",
        "b:send:0",
        "b:progress:1",
        *(f"ak:{action}:{ann_key.id}" for action in ("show", "ext30", "off", "refresh", "del_ok")),
    ):
        assert outdated(await ann.press(data)), data
    key = await VPNKey.get(id=ann_key.id)
    assert (key.state, key.is_active, key.valid_until) == (
        KeyState.LIVE,
        True,
        ann_key.valid_until,
    )
    assert await VPNKey.all().count() == 1
    assert set(outline_server.emulator.keys) == {ann_key.remote_id}


async def test_broadcast_is_previewed_confirmed_and_counted(
    tg: BotHarness, ann_key: VPNKey, bot_ctx: Context
) -> None:
    admin = tg.as_user(ADMIN)
    ask, _ = await admin.press("a:broadcast", message_id=9)
    assert ask.text == "Send the message for all users. Formatting is kept."
    assert buttons(ask.reply_markup) == [[("Cancel", "a:cancel")]]
    note, preview = await admin.send("Maintenance at 22:00 <UTC>")
    assert note.text == "Preview — this is what every user who has not blocked the bot gets:"
    assert preview.text == "Maintenance at 22:00 &lt;UTC&gt;"
    assert buttons(preview.reply_markup) == [
        [("📣 Send to everyone", "b:send:0"), ("Cancel", "b:cancel:0")]
    ]
    queued, _ = await admin.press("b:send:0", message_id=12)
    (broadcast_id,) = re.findall(r"Broadcast #(\d+)", queued.text)
    assert queued.text == (
        f"<b>Broadcast #{broadcast_id}</b>\nRecipients: 3\nDelivered: 0\n"
        "Failed or blocked: 0\nWaiting: 3"
    )
    assert buttons(queued.reply_markup) == [
        [("🔄 Update", f"b:progress:{broadcast_id}")],
        [("« Back", "a:menu")],
    ]
    assert outdated(await admin.press("b:send:0"))  # confirmed once only

    tg.session.errors[BORIS.id] = (403, "Forbidden: bot was blocked by the user")
    messenger = TelegramMessenger(tg.bot, build_i18n())
    limiter = RateLimiter(rate=1000, chat_interval=0)
    before = len(tg.session.requests)
    while await deliver_notices(bot_ctx, messenger, limiter):
        pass
    sent = [m for m in tg.session.requests[before:] if m.text.startswith("Maintenance")]
    assert sorted(m.chat_id for m in sent) == [ANN.id, BORIS.id, ADMIN.id]  # Boris: 403
    assert {m.text for m in sent} == {"Maintenance at 22:00 &lt;UTC&gt;"}
    progress, _ = await admin.press(f"b:progress:{broadcast_id}", message_id=12)
    assert progress.text == (
        f"<b>Broadcast #{broadcast_id}</b>\nRecipients: 3\nDelivered: 2\n"
        "Failed or blocked: 1\nWaiting: 0"
    )
    assert (await users.get_user(BORIS.id)).bot_blocked_at is not None

    await admin.press("a:broadcast")
    await admin.send("second")
    queued, _ = await admin.press("b:send:0")
    assert "Recipients: 2\n" in queued.text  # Boris blocked the bot: skipped


async def test_broadcast_can_be_cancelled(tg: BotHarness, ann_key: VPNKey) -> None:
    admin = tg.as_user(ADMIN)
    await admin.press("a:broadcast")
    await admin.send("oops")
    done, _ = await admin.press("b:cancel:0", message_id=12)
    assert done.text == "Broadcast cancelled."
    assert buttons(done.reply_markup) == [[("« Back", "a:menu")]]
    assert outdated(await admin.press("b:send:0"))
    assert not await Notice.exists(kind="broadcast")


async def test_cancel_of_an_admins_question_brings_its_screen_back(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    admin = tg.as_user(ADMIN)
    await admin.press(f"ak:limit:{ann_key.id}", message_id=9)
    card, cancelled = await admin.send("/cancel")
    assert isinstance(card, EditMessageText) and card.message_id == 9
    assert card.text.startswith(f"#{ann_key.id} <b>home</b> — 🟢 active\nOwner: 100\n")
    assert buttons(card.reply_markup) == admin_key_buttons(ann_key.id)
    assert cancelled.text == "Cancelled."
    (hint,) = await admin.send("50")  # no longer read as a limit
    assert hint.text.startswith("Sorry, I don't understand that.")
    assert (await VPNKey.get(id=ann_key.id)).traffic_limit == 10 * GIB

    await users.set_language(ADMIN.id, "ru", actor="t")
    for section in ("a:find", "a:broadcast"):
        await admin.press(section, message_id=12)
        menu, cancelled = await admin.send("/cancel")
        assert (menu.message_id, menu.text) == (
            12,
            "<b>Панель администратора</b>\nВыберите раздел:",
        )
        assert cancelled.text == "Отменено."


async def test_statistics_and_health_show_a_servers_title_next_to_its_name(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    await registry.set_server_title("alpha", "🇩🇪 Frankfurt", actor="t")
    admin = tg.as_user(ADMIN)
    stats, _ = await admin.press("a:stats", message_id=9)
    assert stats.text.endswith("\n🇩🇪 Frankfurt (<b>alpha</b>): 1 key, 1 active, 0 B")
    health, _ = await admin.press("a:health", message_id=9)
    assert health.text.startswith("<b>Server health</b>\n🟢 🇩🇪 Frankfurt (<b>alpha</b>): reach")
