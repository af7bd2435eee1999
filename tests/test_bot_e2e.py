"""The whole service (``main.build_service``: API, worker and bot) over real HTTP against a
recording Bot API server (TELEGRAM_API_BASE): long polling, webhook mode with its secret,
worker notices delivered through Telegram, and a user who blocked the bot."""

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
import zxingcpp
from aiogram.types import CallbackQuery, Chat, Message, Update
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from PIL import Image
from pydantic import SecretStr

from api.app_keys import CONTEXT
from db.models import Notice, VPNKey
from domain import audit
from domain.accounts import users
from domain.errors import NotFound
from domain.keys import issuing
from domain.servers import registry
from main import build_service
from tests.bot_fixtures import ANN, BORIS, BOT_USER, TOKEN, FakeBotApi, bot_settings
from vpn.pool import BackendPool

SECRET = "s3cret-Token_for-tests"
HOOK = "/telegram/hook"


def message(user_id: int, text: str, update_id: int) -> Update:
    chat = Chat(id=user_id, type="private")
    sender = ANN if user_id == ANN.id else BORIS
    msg = Message(
        message_id=update_id, date=datetime.now(UTC), chat=chat, from_user=sender, text=text
    )
    return Update(update_id=update_id, message=msg)


def press(user_id: int, data: str, update_id: int) -> Update:
    chat = Chat(id=user_id, type="private")
    msg = Message(message_id=1, date=datetime.now(UTC), chat=chat, from_user=BOT_USER, text="…")
    sender = ANN if user_id == ANN.id else BORIS
    query = CallbackQuery(id="q1", from_user=sender, chat_instance="c", message=msg, data=data)
    return Update(update_id=update_id, callback_query=query)


@pytest.fixture
def start_service(
    aiohttp_server, database_url: str, pool: BackendPool, bot_api: FakeBotApi, outline_server
) -> Callable[..., Awaitable[TestServer]]:
    """Start the service on a fresh database with the emulator registered as ``alpha``."""

    async def start(**overrides: object) -> TestServer:
        settings = bot_settings(
            database_url=database_url,
            telegram_api_base=bot_api.base_url,
            outbox_poll_seconds=0.05,
            **overrides,
        )
        server = await aiohttp_server(build_service(settings, pool=pool))
        await registry.add_server(
            server.app[CONTEXT], name="alpha", api_url=outline_server.api_url, actor=audit.CLI
        )
        return server

    return start


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (5 s at most) until ``check()`` holds."""
    for _ in range(500):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def test_polling_serves_start_and_a_trial_with_a_scannable_qr_code(
    start_service, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    server = await start_service()
    commands = await bot_api.wait_for("setMyCommands", 2)
    assert [c.get("language_code") for c in commands] == [None, "ru"]
    assert json.loads(commands[1]["commands"])[0] == {
        "command": "keys",
        "description": "Мои ключи",
    }
    await bot_api.wait_for("deleteWebhook")

    bot_api.queue(message(ANN.id, "/start", 1))
    (hello,) = await bot_api.wait_for("sendMessage")
    assert hello["chat_id"] == str(ANN.id) and hello["parse_mode"] == "HTML"
    assert hello["text"].startswith("Hello, Ann!")
    menu = json.loads(hello["reply_markup"])["inline_keyboard"]
    assert menu[2] == [{"text": "🎁 Free trial", "callback_data": "m:trial"}]

    bot_api.queue(press(ANN.id, "m:trial", 2))
    (photo,) = await bot_api.wait_for("sendPhoto")
    (card,) = bot_api.called("editMessageText")
    key = await VPNKey.get(owner_id=ANN.id)
    assert f"<code>{key.access_url}</code>" in card["text"]
    assert bot_api.called("answerCallbackQuery")
    image = Image.open(io.BytesIO(photo["photo"]))
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [key.access_url]

    await server.close()  # stops polling and closes the bot session cleanly
    assert not bot_api.called("setWebhook")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_webhook_mode_checks_the_secret_and_answers_through_the_api(
    start_service, bot_api: FakeBotApi
) -> None:
    server = await start_service(
        webhook_url=f"https://bot.example.com{HOOK}", webhook_secret=SecretStr(SECRET)
    )
    (hook,) = await bot_api.wait_for("setWebhook")
    assert hook["url"] == f"https://bot.example.com{HOOK}"
    assert hook["secret_token"] == SECRET
    assert set(json.loads(hook["allowed_updates"])) >= {"message", "callback_query"}
    assert not bot_api.called("deleteWebhook") and not bot_api.called("getUpdates")

    url = server.make_url(HOOK)
    body = message(BORIS.id, "/start", 10).model_dump_json(exclude_none=True)
    headers = {"Content-Type": "application/json"}
    async with ClientSession() as http:
        for wrong in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with http.post(url, data=body, headers=headers | wrong) as resp:
                assert resp.status == 401
        assert not bot_api.called("sendMessage")
        with pytest.raises(NotFound):
            await users.get_user(BORIS.id)
        secret = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with http.post(url, data=body, headers=headers | secret) as resp:
            assert resp.status == 200
    (hello,) = bot_api.called("sendMessage")
    assert hello["chat_id"] == str(BORIS.id)
    assert hello["text"].startswith("Здравствуйте, Борис!")
    assert (await users.get_user(BORIS.id)).username == "boris"


async def test_the_worker_tells_the_owner_about_an_api_change_through_telegram(
    start_service, bot_api: FakeBotApi
) -> None:
    server = await start_service()
    bot_api.queue(message(ANN.id, "/start", 1))
    await bot_api.wait_for("sendMessage")
    await issuing.create_key(
        server.app[CONTEXT], server="alpha", tg_id=ANN.id, name="paid", actor="api:billing"
    )
    _, notice = await bot_api.wait_for("sendMessage", 2)
    key = await VPNKey.get(owner_id=ANN.id)
    assert notice["chat_id"] == str(ANN.id)
    assert notice["text"] == "🔑 You have a new key “paid” on alpha."
    button = json.loads(notice["reply_markup"])["inline_keyboard"][0][0]
    assert button == {"text": "🔑 Open the key", "callback_data": f"k:show:{key.id}"}


async def test_a_user_who_blocked_the_bot_is_marked_and_not_messaged_again(
    start_service, bot_api: FakeBotApi
) -> None:
    server = await start_service()
    bot_api.blocked.add(ANN.id)
    bot_api.queue(message(ANN.id, "/start", 1))
    await bot_api.wait_for("sendMessage")

    async def blocked() -> bool:
        return (await users.get_user(ANN.id)).bot_blocked_at is not None

    await eventually(blocked)
    await issuing.create_key(
        server.app[CONTEXT], server="alpha", tg_id=ANN.id, name="paid", actor="api:billing"
    )

    async def given_up() -> bool:
        return await Notice.exists(user_id=ANN.id, failed_at__isnull=False)

    await eventually(given_up)
    assert len(bot_api.called("sendMessage")) == 1  # only the refused reply to /start


async def test_the_service_serves_and_stops_while_telegram_is_unreachable(
    aiohttp_server, database_url: str, pool: BackendPool, unused_tcp_port: int, caplog
) -> None:
    settings = bot_settings(
        database_url=database_url, telegram_api_base=f"http://127.0.0.1:{unused_tcp_port}"
    )
    server = await aiohttp_server(build_service(settings, pool=pool))
    async with ClientSession() as http, http.get(server.make_url("/healthz")) as resp:
        assert resp.status == 200

    async def polling_failed() -> bool:
        return any(r.name == "bot.setup" for r in caplog.records)

    await eventually(polling_failed)  # logged, and retried in the background
    await server.close()
    assert TOKEN not in caplog.text
