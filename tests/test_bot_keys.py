"""My keys: statuses, the key card, its QR code, refresh with confirmation, rename (FSM),
and buttons carrying someone else's key id."""

import io
from datetime import timedelta

import pytest
import zxingcpp
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendPhoto
from PIL import Image

from db.models import InactiveReason, KeyState, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.keys import changes, issuing
from domain.settings import GIB
from tests.bot_fixtures import ANN, BORIS, FIXED_NOW, BotHarness, buttons


@pytest.fixture
async def ann_key(tg: BotHarness, server, bot_ctx: Context) -> VPNKey:
    """Ann (registered through /start) with a 30-day 10 GB key named "home"."""
    await tg.as_user(ANN).send("/start")
    await tg.as_user(BORIS).send("/start")
    return await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="home", days=30, traffic_limit=10 * GIB, actor="t"
    )


def card_en(key: VPNKey, name: str = "home") -> str:
    return (
        f"<b>{name}</b> — 🟢 active\nServer: alpha\n"
        "Valid: until 31 January 2030, 12:00 (30 days left)\nTraffic: 0 B of 10 GB\n\n"
        f"Your access key (tap to copy):\n<code>{key.access_url}</code>"
    )


def card_buttons(key_id: int, lang: str = "en") -> list[list[tuple[str, str]]]:
    extend, qr, refresh, rename, back = {
        "en": ("Extend", "QR code", "Refresh", "Rename", "Back"),
        "ru": ("Продлить", "QR-код", "Обновить", "Переименовать", "Назад"),
    }[lang]
    return [
        [(f"📷 {qr}", f"k:qr:{key_id}")],
        [(f"🔄 {refresh}", f"k:refresh:{key_id}"), (f"✏️ {rename}", f"k:rename:{key_id}")],
        [(f"💳 {extend}", f"p:plans:0:{key_id}:0")],
        [(f"« {back}", "m:keys")],
    ]


async def test_my_keys_lists_every_live_key_with_its_status(
    tg: BotHarness, ann_key: VPNKey, bot_ctx: Context
) -> None:
    expired = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="old", days=1, actor="t"
    )
    await VPNKey.filter(id=expired.id).update(valid_until=FIXED_NOW - timedelta(days=2))
    full = await issuing.create_key(
        bot_ctx, server="alpha", tg_id=100, name="full", traffic_limit=GIB, actor="t"
    )
    await VPNKey.filter(id=full.id).update(
        traffic_used=GIB, is_active=False, inactive_reason=InactiveReason.TRAFFIC
    )
    off = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="off", actor="t")
    await changes.set_active(bot_ctx, key_id=off.id, server=None, is_active=False, actor="t")
    gone = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="gone", actor="t")
    await changes.delete_key(bot_ctx, key_id=gone.id, server=None, actor="t")

    (call,) = await tg.as_user(ANN).send("/keys")
    assert isinstance(call, SendMessage) and call.chat_id == 100
    assert call.text == (
        "<b>Your keys</b>\n\n"
        "<b>home</b> — 🟢 active\nServer: alpha\n"
        "Valid: until 31 January 2030, 12:00 (30 days left)\nTraffic: 0 B of 10 GB\n\n"
        "<b>old</b> — ⏰ expired\nServer: alpha\n"
        "Valid: expired on 30 December 2029, 12:00\nTraffic: 0 B (no limit)\n\n"
        "<b>full</b> — 📊 quota reached\nServer: alpha\n"
        "Valid: no expiry\nTraffic: 1 GB of 1 GB\n\n"
        "<b>off</b> — ⛔ disabled\nServer: alpha\nValid: no expiry\nTraffic: 0 B (no limit)\n\n"
        "Tap a key to see it."
    )
    assert buttons(call.reply_markup) == [
        [("🔑 home", f"k:show:{ann_key.id}")],
        [("🔑 old", f"k:show:{expired.id}")],
        [("🔑 full", f"k:show:{full.id}")],
        [("🔑 off", f"k:show:{off.id}")],
        [("« Back", "m:home")],
    ]


async def test_my_keys_in_russian_offers_the_trial_when_empty(tg: BotHarness, server) -> None:
    await tg.as_user(BORIS).send("/start")
    edit, answer = await tg.as_user(BORIS).press("m:keys", message_id=4)
    assert isinstance(edit, EditMessageText) and (edit.chat_id, edit.message_id) == (200, 4)
    assert edit.text == "У вас пока нет ключей."
    assert buttons(edit.reply_markup) == [
        [("🎁 Пробный период", "m:trial")],
        [("« Назад", "m:home")],
    ]
    assert isinstance(answer, AnswerCallbackQuery)


async def test_key_card_is_edited_in_place_with_a_copyable_url(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    edit, answer = await tg.as_user(ANN).press(f"k:show:{ann_key.id}", message_id=11)
    assert isinstance(edit, EditMessageText)
    assert (edit.chat_id, edit.message_id) == (100, 11)
    assert edit.text == card_en(ann_key)
    assert buttons(edit.reply_markup) == card_buttons(ann_key.id)
    assert isinstance(answer, AnswerCallbackQuery) and not answer.text


async def test_qr_code_is_sent_as_a_photo_that_decodes_to_the_access_url(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    photo, answer = await tg.as_user(ANN).press(f"k:qr:{ann_key.id}")
    assert isinstance(photo, SendPhoto) and photo.chat_id == 100
    assert photo.caption == (
        "🔑 home\nOpen the Outline app on the device you want to connect, tap “+” and scan "
        "this code."
    )
    image = Image.open(io.BytesIO(photo.photo.data))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [ann_key.access_url]
    assert isinstance(answer, AnswerCallbackQuery)


async def test_refresh_asks_first_and_cancel_changes_nothing(
    tg: BotHarness, ann_key: VPNKey
) -> None:
    ask, _ = await tg.as_user(ANN).press(f"k:refresh:{ann_key.id}", message_id=11)
    assert isinstance(ask, EditMessageText) and ask.message_id == 11
    assert ask.text == (
        "Refresh <b>home</b>?\n\nYou get a new access key; the current one stops working "
        "at once. Your expiry date and traffic allowance stay the same."
    )
    assert buttons(ask.reply_markup) == [
        [("✅ Yes, refresh", f"k:refresh_ok:{ann_key.id}"), ("Cancel", f"k:show:{ann_key.id}")]
    ]
    back, _ = await tg.as_user(ANN).press(f"k:show:{ann_key.id}", message_id=11)
    assert back.text == card_en(ann_key)
    assert (await VPNKey.get(id=ann_key.id)).state == KeyState.LIVE


async def test_confirmed_refresh_replaces_the_key_in_place(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    edit, answer = await tg.as_user(ANN).press(f"k:refresh_ok:{ann_key.id}", message_id=11)
    new = await VPNKey.get(previous_id=ann_key.id)
    assert new.access_url != ann_key.access_url
    assert isinstance(edit, EditMessageText) and edit.message_id == 11
    assert edit.text == (
        "✅ Here is your new key; the old one no longer works.\n\n" + card_en(new)
    )
    assert buttons(edit.reply_markup) == card_buttons(new.id)
    assert isinstance(answer, AnswerCallbackQuery)
    assert (await VPNKey.get(id=ann_key.id)).state == KeyState.DELETED
    assert set(outline_server.emulator.keys) == {new.remote_id}


async def test_rename_asks_validates_and_updates_the_card(tg: BotHarness, ann_key: VPNKey) -> None:
    ann = tg.as_user(ANN)
    ask, _ = await ann.press(f"k:rename:{ann_key.id}", message_id=11)
    assert ask.text == "Send the new name for <b>home</b> (1–100 characters)."
    assert buttons(ask.reply_markup) == [[("Cancel", f"k:show:{ann_key.id}")]]

    refusal = "The name must be 1–100 characters. Send another one or press Cancel."
    for bad in ("x" * 101, "   "):
        (reply,) = await ann.send(bad)
        assert isinstance(reply, SendMessage) and (reply.chat_id, reply.text) == (100, refusal)
    assert (await VPNKey.get(id=ann_key.id)).name == "home"

    edit, done = await ann.send("  Laptop <3 ")
    assert isinstance(edit, EditMessageText) and (edit.chat_id, edit.message_id) == (100, 11)
    assert edit.text == card_en(ann_key, name="Laptop &lt;3")
    assert buttons(edit.reply_markup) == card_buttons(ann_key.id)
    assert isinstance(done, SendMessage)
    assert done.text == "✅ Renamed. The card above is up to date."
    assert (await VPNKey.get(id=ann_key.id)).name == "Laptop <3"
    (hint,) = await ann.send("another name")  # the question is closed
    assert hint.text == "Sorry, I don't understand that. Use the buttons below or send /help."
    assert (await VPNKey.get(id=ann_key.id)).name == "Laptop <3"


async def test_rename_in_russian_can_be_cancelled_by_button_or_command(
    tg: BotHarness, server, bot_ctx: Context
) -> None:
    boris = tg.as_user(BORIS)
    await boris.send("/start")
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=200, name="дом", actor="t")
    ask, _ = await boris.press(f"k:rename:{key.id}", message_id=8)
    assert ask.text == "Отправьте новое название для <b>дом</b> (1–100 символов)."
    assert buttons(ask.reply_markup) == [[("Отмена", f"k:show:{key.id}")]]
    (reply,) = await boris.send("x" * 101)
    assert reply.text == (
        "Название должно быть от 1 до 100 символов. Отправьте другое или нажмите «Отмена»."
    )
    card, _ = await boris.press(f"k:show:{key.id}", message_id=8)
    assert card.text.startswith("<b>дом</b> — 🟢 активен\nСервер: alpha")
    assert buttons(card.reply_markup) == card_buttons(key.id, "ru")
    hint = (
        "Извините, я не понимаю это сообщение. Воспользуйтесь кнопками ниже или отправьте /help."
    )
    assert [m.text for m in await boris.send("новое")] == [hint]

    await boris.press(f"k:rename:{key.id}", message_id=8)
    restored, cancelled = await boris.send("/cancel")
    assert isinstance(restored, EditMessageText) and restored.message_id == 8
    assert (restored.text, restored.reply_markup) == (card.text, card.reply_markup)
    assert cancelled.text == "Отменено."
    assert [m.text for m in await boris.send("новое")] == [hint]
    assert (await VPNKey.get(id=key.id)).name == "дом"


async def test_buttons_with_someone_elses_key_id_do_nothing(
    tg: BotHarness, ann_key: VPNKey, outline_server
) -> None:
    boris = tg.as_user(BORIS)
    not_found = "Не найдено — возможно, это уже удалено."
    for action in ("show", "qr", "refresh", "refresh_ok", "rename"):
        (alert,) = await boris.press(f"k:{action}:{ann_key.id}")
        assert isinstance(alert, AnswerCallbackQuery), action
        assert (alert.text, alert.show_alert) == (not_found, True)
    (hint,) = await boris.send("stolen")  # rename never started: just the menu
    assert hint.text.startswith("Извините, я не понимаю это сообщение.")
    key = await VPNKey.get(id=ann_key.id)
    assert (key.state, key.name, key.access_url) == (KeyState.LIVE, "home", ann_key.access_url)
    assert set(outline_server.emulator.keys) == {ann_key.remote_id}
    (alert,) = await boris.press("k:show:999999")
    assert alert.text == not_found


async def test_a_user_known_only_through_the_api_can_use_the_bot(
    tg: BotHarness, server, bot_ctx: Context
) -> None:
    await users.upsert_user(UserProfile(id=100, first_name="Ann"), actor="api:billing")
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=100, name="paid", actor="t")
    (call,) = await tg.as_user(ANN).send("/keys")
    assert buttons(call.reply_markup)[0] == [("🔑 paid", f"k:show:{key.id}")]
