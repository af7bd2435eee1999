"""Getting around: unknown input gets a hint and the menu, open questions win, commands close
them, old cards follow a refresh, failed actions put the card back, only issuing is throttled."""

from collections.abc import Callable

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendPhoto
from aiogram.types import Chat, Message, Update

from db.models import KeyState, VPNKey
from domain.accounts import users
from domain.context import Context
from domain.keys import issuing
from tests.bot_fixtures import ADMIN, ANN, BORIS, BotHarness, buttons
from tests.test_bot_menu import MENU_EN

HINT_EN = "Sorry, I don't understand that. Use the buttons below or send /help."
HINT_RU = "Извините, я не понимаю это сообщение. Воспользуйтесь кнопками ниже или отправьте /help."


@pytest.fixture
async def ann_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    """Ann and Boris registered; Ann holds a key "home"."""
    await tg.as_user(ANN).send("/start")
    await tg.as_user(BORIS).send("/start")
    return await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="home", actor="t")


async def test_unknown_text_and_commands_get_a_hint_and_the_menu(tg: BotHarness) -> None:
    await tg.as_user(ANN).send("/start")
    await tg.as_user(BORIS).send("/start")
    for text in ("hello?", "/nosuchcommand", "/keys2"):
        (reply,) = await tg.as_user(ANN).send(text)
        assert isinstance(reply, SendMessage) and (reply.chat_id, reply.text) == (100, HINT_EN)
        assert buttons(reply.reply_markup) == MENU_EN
    (reply,) = await tg.as_user(BORIS).send("привет")
    assert reply.text == HINT_RU
    assert buttons(reply.reply_markup)[0] == [("🔑 Мои ключи", "m:keys")]


async def test_a_first_message_that_is_not_start_registers_and_greets(tg: BotHarness) -> None:
    (reply,) = await tg.as_user(BORIS).send("что это?")
    assert reply.text.startswith("Здравствуйте, Борис! Этот бот выдаёт ключи")
    assert (await users.get_user(BORIS.id)).language_code == "ru"


async def test_a_sticker_during_a_rename_points_at_the_question(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    ann = tg.as_user(ANN)
    await ann.press(f"k:rename:{ann_key.id}", message_id=4)
    sticker = Message(
        message_id=77,
        date=ann_key.created_at,
        chat=Chat(id=ANN.id, type="private"),
        from_user=ANN,
        caption="not text",
    )
    (reply,) = await tg.feed(Update(update_id=10_000, message=sticker))
    assert reply.text == "Please answer the question above, or send /cancel to leave it."
    edit, done = await ann.send("laptop")  # the question is still open
    assert isinstance(edit, EditMessageText) and done.text.startswith("✅ Renamed.")


async def test_a_command_closes_an_open_question(tg: BotHarness, ann_key: VPNKey) -> None:
    ann = tg.as_user(ANN)
    await ann.press(f"k:rename:{ann_key.id}", message_id=4)
    (listing,) = await ann.send("/keys")
    assert listing.text.startswith("<b>Your keys</b>")
    (reply,) = await ann.send("laptop")  # no longer taken as the new name
    assert reply.text == HINT_EN
    assert (await VPNKey.get(id=ann_key.id)).name == "home"


async def test_an_admins_open_question_still_wins(tg: BotHarness, ann_key: VPNKey) -> None:
    admin = tg.as_user(ADMIN)
    await admin.send("/start")
    await admin.press("a:find", message_id=3)
    (card,) = await admin.send("@ann")
    assert card.text.startswith("<b>Ann</b> (<code>100</code>)")


async def test_buttons_of_a_refreshed_keys_card_lead_to_the_new_key(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    ann, old = tg.as_user(ANN), ann_key.id
    await ann.press(f"k:refresh_ok:{old}", message_id=4)
    new = await VPNKey.get(previous_id=old)
    card, _ = await ann.press(f"k:show:{old}", message_id=9)  # an older copy of the card
    assert isinstance(card, EditMessageText) and new.access_url in card.text
    assert buttons(card.reply_markup)[0] == [("📷 QR code", f"k:qr:{new.id}")]
    photo, _ = await ann.press(f"k:qr:{old}")
    assert isinstance(photo, SendPhoto)
    ask, _ = await ann.press(f"k:rename:{old}", message_id=9)
    assert buttons(ask.reply_markup) == [[("Cancel", f"k:show:{new.id}")]]
    await ann.send("/cancel")

    # "Yes, refresh" pressed again on the old question: the key is not replaced twice.
    again, _ = await ann.press(f"k:refresh_ok:{old}", message_id=4)
    assert new.access_url in again.text
    assert await VPNKey.filter(owner_id=100, state=KeyState.LIVE).count() == 1
    assert set(outline_server.emulator.keys) == {new.remote_id}

    (alert,) = await tg.as_user(BORIS).press(f"k:show:{old}")  # still nobody else's
    assert alert.text == "Не найдено — возможно, это уже удалено."


async def test_a_failed_refresh_puts_the_card_back(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    ann = tg.as_user(ANN)
    ask, _ = await ann.press(f"k:refresh:{ann_key.id}", message_id=4)
    assert ask.text.startswith("Refresh <b>home</b>?")
    outline_server.emulator.faults.fail_next(10, status=500)
    card, alert = await ann.press(f"k:refresh_ok:{ann_key.id}", message_id=4)
    assert isinstance(card, EditMessageText) and card.message_id == 4
    assert card.text.startswith("<b>home</b> — 🟢 active\nServer: alpha\n")
    assert buttons(card.reply_markup)[0] == [("📷 QR code", f"k:qr:{ann_key.id}")]
    assert isinstance(alert, AnswerCallbackQuery) and alert.show_alert
    assert alert.text.startswith("The VPN server is not answering right now.")


async def test_cancel_of_a_rename_puts_the_card_back(tg: BotHarness, ann_key: VPNKey) -> None:
    ann = tg.as_user(ANN)
    await ann.press(f"k:rename:{ann_key.id}", message_id=6)
    card, cancelled = await ann.send("/cancel")
    assert isinstance(card, EditMessageText) and (card.chat_id, card.message_id) == (100, 6)
    assert card.text.startswith("<b>home</b> — 🟢 active")
    assert buttons(card.reply_markup)[1][1] == ("✏️ Rename", f"k:rename:{ann_key.id}")
    assert cancelled.text == "Cancelled."


async def test_navigation_is_never_throttled_but_issuing_is(
    make_harness: Callable[..., BotHarness], server, bot_ctx: Context
) -> None:
    tg = make_harness(throttle_seconds=60)
    ann, boris = tg.as_user(ANN), tg.as_user(BORIS)
    await ann.send("/start")
    await boris.send("/start")
    for _ in range(3):  # menu, list, help, back: as often as one likes
        for data in ("m:keys", "m:help", "m:lang", "m:home"):
            edit, _ = await ann.press(data)
            assert isinstance(edit, EditMessageText), data
    await issuing.create_demo_key(bot_ctx, tg_id=BORIS.id, server="alpha", actor="t")
    for _ in range(2):  # a trial already taken is explained each time, not throttled
        (alert,) = await boris.press("m:trial")
        assert alert.text.startswith("Вы уже использовали пробный период.")
    edit, _, photo = await ann.press("m:trial")
    assert isinstance(photo, SendPhoto)
    (slow,) = await ann.press("m:trial")  # right after a key was issued: slowed down
    assert slow.text == "Too many requests — please wait a few seconds and try again."
    key = await VPNKey.get(owner_id=100)
    await ann.press(f"k:refresh_ok:{key.id}")
    new = await VPNKey.get(previous_id=key.id)
    (slow,) = await ann.press(f"k:refresh_ok:{new.id}")
    assert slow.text == "Too many requests — please wait a few seconds and try again."
    (slow,) = await boris.press("k:refresh_ok:424242")
    assert slow.text == "Не найдено — возможно, это уже удалено."  # a failure gives it back
    (slow,) = await boris.press("k:refresh_ok:424242")
    assert slow.text == "Не найдено — возможно, это уже удалено."


async def test_a_button_nothing_handles_gets_an_answer_in_the_users_language(
    tg: BotHarness,
) -> None:
    await tg.as_user(BORIS).send("/start")
    (answer,) = await tg.as_user(BORIS).press("zz:gone:1")
    assert isinstance(answer, AnswerCallbackQuery)
    assert answer.text == "Эта кнопка больше не работает. Отправьте /start, чтобы открыть меню."
