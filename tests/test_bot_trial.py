"""Free trial: one server or a choice of several, once per user, throttled per user."""

from collections.abc import AsyncIterator, Callable

import pytest
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage, SendPhoto

from db.models import VPNKey, VPNServer
from domain import audit
from domain.context import Context
from domain.errors import Invalid
from domain.servers import registry
from tests.bot_fixtures import ANN, BORIS, BotHarness, buttons
from vpn.emulator import RunningEmulator, start_emulator

STEPS_EN = (
    "<b>How to connect</b>\n"
    "1. Install the Outline client for your device (buttons below).\n"
    "2. Copy your access key (it starts with ss://) from “My keys”.\n"
    "3. Open Outline: it offers to add the copied key — tap “Connect”."
)


@pytest.fixture
async def second_server(server, ctx: Context) -> AsyncIterator[VPNServer]:
    """A second emulator registered as ``beta``."""
    running: RunningEmulator = await start_emulator()
    yield await registry.add_server(ctx, name="beta", api_url=running.api_url, actor=audit.CLI)
    await running.stop()


async def test_trial_is_issued_once_and_explained_the_second_time(tg: BotHarness, server) -> None:
    ann = tg.as_user(ANN)
    await ann.send("/start")
    edit, answer, photo = await ann.press("m:trial", message_id=2)
    key = await VPNKey.get(owner_id=100)
    assert key.is_demo and key.traffic_limit == 1024**3
    assert isinstance(edit, EditMessageText) and (edit.chat_id, edit.message_id) == (100, 2)
    assert edit.text == (
        "🎁 Your free trial key is ready!\n\n"
        "<b>demo ann</b> — 🟢 active\nServer: alpha\n"
        "Valid: until 8 January 2030, 12:00 (7 days left)\nTraffic: 0 B of 1 GB\n\n"
        f"Your access key (tap to copy):\n<code>{key.access_url}</code>\n\n" + STEPS_EN
    )
    assert buttons(edit.reply_markup)[0] == [("📷 QR code", f"k:qr:{key.id}")]
    assert isinstance(answer, AnswerCallbackQuery)
    assert isinstance(photo, SendPhoto) and photo.chat_id == 100

    (again,) = await ann.press("m:trial")
    assert isinstance(again, AnswerCallbackQuery) and again.show_alert
    assert again.text == "You have already used your free trial. Your keys are under “My keys”."
    (command,) = await ann.send("/trial")
    assert isinstance(command, SendMessage)
    assert command.text == again.text
    assert await VPNKey.filter(owner_id=100).count() == 1


async def test_trial_in_russian_by_command(tg: BotHarness, server) -> None:
    boris = tg.as_user(BORIS)
    await boris.send("/start")
    card, photo = await boris.send("/trial")
    assert isinstance(card, SendMessage) and card.chat_id == 200
    assert card.text.startswith("🎁 Ваш пробный ключ готов!\n\n<b>demo boris</b> — 🟢 активен")
    assert "Срок: до 8 января 2030, 12:00 (осталось: 7 дней)" in card.text
    assert "Трафик: 0 Б из 1 ГБ" in card.text
    assert isinstance(photo, SendPhoto)
    (again,) = await boris.send("/trial")
    assert again.text == (
        "Вы уже использовали пробный период. Ваши ключи — в разделе «Мои ключи»."
    )


async def test_trial_offers_a_choice_of_active_servers(
    tg: BotHarness, second_server: VPNServer
) -> None:
    ann = tg.as_user(ANN)
    await ann.send("/start")
    alpha = await registry.get_server("alpha")
    choice, _ = await ann.press("m:trial", message_id=3)
    assert choice.text == "Choose a server for your trial key:"
    assert buttons(choice.reply_markup) == [
        [("🌍 alpha", f"t:{alpha.id}")],
        [("🌍 beta", f"t:{second_server.id}")],
        [("⚖️ Any server (the least busy)", "t:-1")],
        [("« Back", "m:home")],
    ]
    assert not await VPNKey.exists(owner_id=100)
    edit, _, photo = await ann.press(f"t:{second_server.id}", message_id=3)
    key = await VPNKey.get(owner_id=100).select_related("server")
    assert key.server.name == "beta"
    assert "Server: beta" in edit.text and isinstance(photo, SendPhoto)


async def test_a_disabled_server_is_not_offered(tg: BotHarness, second_server) -> None:
    await registry.set_server_active("alpha", False, actor=audit.CLI)
    ann = tg.as_user(ANN)
    await ann.send("/start")
    alpha = await registry.get_server("alpha")
    (alert,) = await ann.press(f"t:{alpha.id}")
    assert alert.text == "Not found — it may have been deleted."
    edit, _, _ = await ann.press("m:trial")
    assert "Server: beta" in edit.text


async def test_key_issuing_is_throttled_per_user(
    make_harness: Callable[..., BotHarness], server
) -> None:
    tg = make_harness(throttle_seconds=60)
    ann, boris = tg.as_user(ANN), tg.as_user(BORIS)
    await ann.send("/start")
    await boris.send("/start")
    await ann.press("m:trial")
    key = await VPNKey.get(owner_id=100)
    await ann.press(f"k:refresh_ok:{key.id}")
    (slow,) = await ann.press(f"k:refresh_ok:{key.id}")
    assert isinstance(slow, AnswerCallbackQuery) and slow.show_alert
    assert slow.text == "Too many requests — please wait a few seconds and try again."
    assert await VPNKey.filter(owner_id=100).count() == 2  # one demo, one refresh
    (slow,) = await ann.send("/trial")
    assert slow.text == "Too many requests — please wait a few seconds and try again."
    card, _ = await boris.send("/trial")  # another user is not slowed down
    assert card.text.startswith("🎁 Ваш пробный ключ готов!")


async def test_the_trial_picker_offers_only_answering_servers_by_their_titles(
    make_harness: Callable[..., BotHarness], second_server: VPNServer, ctx: Context
) -> None:
    tg = make_harness(throttle_seconds=60)
    down: RunningEmulator = await start_emulator()
    gone = await registry.add_server(ctx, name="gamma", api_url=down.api_url, actor=audit.CLI)
    await down.stop()
    with pytest.raises(Invalid):
        await registry.set_server_title("alpha", "x" * 65, actor=audit.CLI)
    await registry.set_server_title("alpha", " 🇩🇪 Frankfurt ", actor=audit.CLI)
    alpha = await registry.get_server("alpha")
    assert alpha.title == "🇩🇪 Frankfurt"
    ann, boris = tg.as_user(ANN), tg.as_user(BORIS)
    await ann.send("/start")
    for _ in range(2):  # showing the choice is navigation: never throttled
        choice, _ = await ann.press("m:trial", message_id=3)
        assert buttons(choice.reply_markup) == [
            [("🇩🇪 Frankfurt", f"t:{alpha.id}")],
            [("🌍 beta", f"t:{second_server.id}")],
            [("⚖️ Any server (the least busy)", "t:-1")],
            [("« Back", "m:home")],
        ]
    edit, _, _ = await ann.press(f"t:{alpha.id}", message_id=3)
    assert "\nServer: 🇩🇪 Frankfurt\n" in edit.text
    await boris.send("/start")
    (choice,) = await boris.send("/trial")
    assert choice.text == "Выберите сервер для пробного ключа:"
    assert [row[0][1] for row in buttons(choice.reply_markup)[:-2]] == [
        f"t:{alpha.id}",
        f"t:{second_server.id}",
    ]
    assert gone.id not in {key.server_id for key in await VPNKey.all()}


async def test_when_one_server_answers_the_trial_is_issued_there(
    tg: BotHarness, server, ctx: Context
) -> None:
    down: RunningEmulator = await start_emulator()
    await registry.add_server(ctx, name="beta", api_url=down.api_url, actor=audit.CLI)
    await down.stop()
    boris = tg.as_user(BORIS)
    await boris.send("/start")
    card, photo = await boris.send("/trial")
    assert card.text.startswith("🎁 Ваш пробный ключ готов!")
    assert "\nСервер: alpha\n" in card.text and isinstance(photo, SendPhoto)
    assert photo.caption.endswith(
        "Откройте приложение Outline на устройстве, которое хотите подключить, нажмите «+» "
        "и отсканируйте этот код."
    )


async def test_any_server_issues_the_trial_on_the_least_loaded_one(
    tg: BotHarness, second_server: VPNServer
) -> None:
    ann = tg.as_user(ANN)
    await ann.send("/start")
    await ann.press("t:-1", message_id=3)
    key = await VPNKey.get(owner_id=100).select_related("server")
    assert key.is_demo and key.server.name == "alpha"
