"""Bot wiring from settings: API server, FSM storage, webhook path and secret; FSM state shared
by two instances through Redis."""

from aiogram import Bot
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from fakeredis import FakeAsyncRedis
from pydantic import SecretStr

from bot.callbacks import (
    AdminIssueCB,
    AdminKeyAction,
    AdminKeyCB,
    AdminUserCB,
    BroadcastAction,
    BroadcastCB,
    KeyAction,
    KeyCB,
    TrialCB,
)
from bot.setup import (
    build_dispatcher,
    build_storage,
    create_bot,
    webhook_path,
    webhook_secret,
    webhook_target,
)
from db.models import VPNKey
from domain.bounds import MAX_BIG_ID, MAX_ROW_ID, MAX_TG_ID
from domain.context import Context
from domain.keys import issuing
from tests.bot_fixtures import ANN, TOKEN, BotHarness, RecordingSession, bot_settings


async def test_bot_uses_a_custom_api_server_when_configured() -> None:
    default, custom = (
        create_bot(bot_settings()),
        create_bot(bot_settings(telegram_api_base="http://127.0.0.1:8081/")),
    )
    assert default.session.api.api_url(TOKEN, "getMe").startswith("https://api.telegram.org/")
    assert custom.session.api.api_url(TOKEN, "getMe") == f"http://127.0.0.1:8081/bot{TOKEN}/getMe"
    assert default.default.parse_mode == "HTML"
    for bot in (default, custom):
        await bot.session.close()


async def test_fsm_storage_is_redis_only_when_configured() -> None:
    assert isinstance(build_storage(bot_settings()), MemoryStorage)
    redis = build_storage(bot_settings(redis_url=SecretStr("redis://127.0.0.1:1/0")))
    assert isinstance(redis, RedisStorage)
    await redis.close()


def test_webhook_path_and_secret_come_from_settings() -> None:
    hook = bot_settings(webhook_url="https://example.com/tg/abc", webhook_secret=SecretStr("x"))
    assert (webhook_path(hook), webhook_secret(hook)) == ("/tg/abc", "x")
    assert webhook_target(hook) == "https://example.com/tg/abc"
    bare = bot_settings(webhook_url="https://example.com/")
    assert webhook_path(bare) == "/telegram/webhook"
    assert webhook_target(bare) == "https://example.com/telegram/webhook"
    derived = webhook_secret(bare)
    assert derived == webhook_secret(bot_settings()) and len(derived) == 64  # same everywhere
    assert TOKEN not in derived and derived.isalnum()


async def test_a_rename_started_on_one_instance_finishes_on_another(
    db: str, server, bot_ctx: Context
) -> None:
    storage = RedisStorage(redis=FakeAsyncRedis())
    instances = []
    for _ in range(2):
        session = RecordingSession()
        dp = build_dispatcher(bot_ctx, bot_settings(), storage=storage)
        instances.append(BotHarness(dp, Bot(TOKEN, session=session), session))
    first, second = (h.as_user(ANN) for h in instances)
    await first.send("/start")
    key = await issuing.create_key(bot_ctx, server="alpha", tg_id=ANN.id, name="a", actor="t")
    await first.press(f"k:rename:{key.id}", message_id=5)
    edit, done = await second.send("office")
    assert edit.message_id == 5 and done.text == "✅ Renamed. The card above is up to date."
    assert (await VPNKey.get(id=key.id)).name == "office"
    await storage.close()


def test_callback_data_fits_telegrams_64_bytes_with_the_largest_ids() -> None:
    row, tg_id = MAX_ROW_ID, MAX_TG_ID
    packed = [
        KeyCB(action=KeyAction.REFRESH_OK, key_id=row).pack(),
        AdminKeyCB(action=AdminKeyAction.DELETE_OK, key_id=row).pack(),
        AdminIssueCB(user_id=tg_id, server_id=row).pack(),
        AdminUserCB(user_id=tg_id).pack(),
        TrialCB(server_id=row).pack(),
        BroadcastCB(action=BroadcastAction.PROGRESS, broadcast_id=MAX_BIG_ID).pack(),
    ]
    assert max(len(p.encode()) for p in packed) <= 64
