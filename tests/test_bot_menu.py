"""/start, the main menu, connection help and the language switch, in English and Russian."""

from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SetMyCommands

from bot.setup import build_i18n, set_commands
from db.models import AuditEvent
from domain.accounts import users
from tests.bot_fixtures import ANN, BORIS, BotHarness, buttons

MENU_EN = [
    [("🔑 My keys", "m:keys")],
    [("💳 Buy / extend", "m:buy")],
    [("🎁 Free trial", "m:trial")],
    [("👥 Invite friends", "m:invite")],
    [("📖 How to connect", "m:help")],
    [("🌐 Language", "m:lang")],
]
MENU_RU = [
    [("🔑 Мои ключи", "m:keys")],
    [("💳 Купить / продлить", "m:buy")],
    [("🎁 Пробный период", "m:trial")],
    [("👥 Пригласить друзей", "m:invite")],
    [("📖 Как подключиться", "m:help")],
    [("🌐 Язык", "m:lang")],
]
HELLO_EN = "Hello, Ann! This bot gives you keys for the Outline VPN.\n\nChoose what to do:"
HELLO_RU = "Здравствуйте, Борис! Этот бот выдаёт ключи для VPN Outline.\n\nВыберите действие:"


async def test_start_registers_the_user_and_shows_the_menu_in_english(tg: BotHarness) -> None:
    (call,) = await tg.as_user(ANN).send("/start promo-42")
    assert isinstance(call, SendMessage)
    assert (call.chat_id, call.text) == (100, HELLO_EN)
    assert buttons(call.reply_markup) == MENU_EN
    user = await users.get_user(100)
    assert (user.first_name, user.username, user.language_code) == ("Ann", "ann", "en")
    assert user.start_payload == "promo-42"
    assert await AuditEvent.filter(actor="tg:100", action="user.created").count() == 1


async def test_start_speaks_russian_to_a_russian_telegram_user(tg: BotHarness) -> None:
    (call,) = await tg.as_user(BORIS).send("/start")
    assert isinstance(call, SendMessage)
    assert (call.chat_id, call.text) == (200, HELLO_RU)
    assert buttons(call.reply_markup) == MENU_RU
    assert (await users.get_user(200)).start_payload is None


async def test_start_again_keeps_the_payload_and_a_chosen_language(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start first")
    await users.set_language(100, "ru", actor="tg:100")
    (call,) = await tg.as_user(ANN.model_copy(update={"first_name": "Anna"})).send("/start")
    assert call.text.startswith("Здравствуйте, Anna!")
    user = await users.get_user(100)
    assert (user.first_name, user.language_code, user.start_payload) == ("Anna", "ru", "first")


async def test_menu_hides_the_trial_once_it_is_used(tg: BotHarness, server) -> None:
    await tg.as_user(ANN).send("/start")
    await tg.as_user(ANN).press("m:trial")
    edit, answer = await tg.as_user(ANN).press("m:home", message_id=7)
    assert isinstance(edit, EditMessageText)
    assert (edit.chat_id, edit.message_id, edit.text) == (100, 7, HELLO_EN)
    assert buttons(edit.reply_markup) == [row for row in MENU_EN if row[0][1] != "m:trial"]
    assert isinstance(answer, AnswerCallbackQuery)


async def test_how_to_connect_lists_clients_and_the_three_steps(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start")
    edit, _ = await tg.as_user(ANN).press("m:help", message_id=5)
    assert isinstance(edit, EditMessageText) and edit.message_id == 5
    assert edit.text == (
        "<b>How to connect</b>\n"
        "1. Install the Outline client for your device (buttons below).\n"
        "2. Copy your access key (it starts with ss://) from “My keys”.\n"
        "3. Open Outline: it offers to add the copied key — tap “Connect”.\n\n"
        "/keys — my keys\n/trial — free trial key\n"
        "/buy — buy or extend a key\n/invite — invite friends\n"
        "/language — change the language\n/help — this help"
    )
    rows = buttons(edit.reply_markup)
    platforms = [text for row in rows[:-1] for text, _ in row]
    assert platforms == ["⬇️ Android", "⬇️ iPhone / iPad", "⬇️ macOS", "⬇️ Windows", "⬇️ Linux"]
    assert all(url.startswith("https://") for row in rows[:-1] for _, url in row)
    assert rows[-1] == [("« Back", "m:home")]


async def test_help_command_answers_in_russian(tg: BotHarness) -> None:
    await tg.as_user(BORIS).send("/start")
    (call,) = await tg.as_user(BORIS).send("/help")
    assert isinstance(call, SendMessage) and call.chat_id == 200
    assert call.text.startswith("<b>Как подключиться</b>\n1. Установите клиент Outline")
    assert buttons(call.reply_markup)[-1] == [("« Назад", "m:home")]


async def test_language_is_switched_and_stored(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start")
    (ask,) = await tg.as_user(ANN).send("/language")
    assert ask.text == "Choose your language:"
    assert buttons(ask.reply_markup) == [
        [("🇬🇧 English", "l:en"), ("🇷🇺 Русский", "l:ru")],
        [("« Back", "m:home")],
    ]
    edit, answer = await tg.as_user(ANN).press("l:ru", message_id=3)
    assert isinstance(edit, EditMessageText)
    assert edit.text == (
        "Язык изменён.\n\nЗдравствуйте, Ann! Этот бот выдаёт ключи для VPN Outline."
        "\n\nВыберите действие:"
    )
    assert buttons(edit.reply_markup) == MENU_RU
    assert isinstance(answer, AnswerCallbackQuery)
    assert (await users.get_user(100)).language_code == "ru"
    (menu,) = await tg.as_user(ANN).send("/help")
    assert menu.text.startswith("<b>Как подключиться</b>")
    await tg.as_user(ANN).press("l:en")
    assert (await users.get_user(100)).language_code == "en"


async def test_an_unknown_language_code_is_refused(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start")
    (alert,) = await tg.as_user(ANN).press("l:de")
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text == "That value is not accepted."
    assert (await users.get_user(100)).language_code == "en"


async def test_buttons_before_start_ask_for_start(tg: BotHarness) -> None:
    (call,) = await tg.as_user(ANN).send("/keys")
    assert (call.chat_id, call.text) == (100, "Please send /start first.")


async def test_commands_are_registered_in_english_and_russian(tg: BotHarness) -> None:
    await set_commands(tg.bot, build_i18n())
    en, ru = tg.session.requests
    assert isinstance(en, SetMyCommands) and isinstance(ru, SetMyCommands)
    assert (en.language_code, ru.language_code) == (None, "ru")
    assert [(c.command, c.description) for c in en.commands] == [
        ("keys", "My keys"),
        ("trial", "Free trial"),
        ("buy", "Buy or extend a key"),
        ("invite", "Invite friends"),
        ("help", "How to connect"),
        ("language", "Language"),
    ]
    assert [c.description for c in ru.commands] == [
        "Мои ключи",
        "Пробный период",
        "Купить или продлить ключ",
        "Пригласить друзей",
        "Как подключиться",
        "Язык",
    ]
