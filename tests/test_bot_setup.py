"""Bot wiring from settings: API server, FSM storage, webhook path and secret; FSM state shared
by two instances through Redis; webhook mode's answers to malformed bodies and repeated updates
(in memory, and through a real redis-server)."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot, Dispatcher
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Chat, Message, Update
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from fakeredis import FakeAsyncRedis
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

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
from bot.client import create_bot
from bot.setup import (
    build_dispatcher,
    build_storage,
    webhook_path,
    webhook_secret,
    webhook_target,
)
from bot.webhook import CLAIM_SECONDS, DONE_SECONDS, Claim, MemoryUpdateLog, RedisUpdateLog
from db.models import VPNKey
from domain.bounds import MAX_BIG_ID, MAX_ROW_ID, MAX_TG_ID
from domain.context import Context
from domain.keys import issuing
from main import build_service
from tests.bot_fixtures import (
    ANN,
    BOT_USER,
    TOKEN,
    BotHarness,
    FakeBotApi,
    RecordingSession,
    bot_settings,
)
from tests.services import require_binary
from vpn.pool import BackendPool


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


# --- webhook mode over real HTTP: malformed bodies and repeated updates -----------------

HOOK, SECRET = "/telegram/hook", "s3cret-Token_for-tests"
HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}


def start_update(update_id: int) -> bytes:
    chat = Chat(id=ANN.id, type="private")
    message = Message(
        message_id=update_id, date=datetime.now(UTC), chat=chat, from_user=ANN, text="/start"
    )
    return Update(update_id=update_id, message=message).model_dump_json(exclude_none=True).encode()


@pytest.fixture
async def redis_url(tmp_path: Path) -> AsyncIterator[str]:
    """A real redis-server (Debian's package) on a free port, with nothing saved to disk."""
    binary = require_binary("redis-server", "/usr/bin/redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    try:
        for _ in range(100):
            with suppress(RedisConnectionError):
                if await client.ping():
                    break
            await asyncio.sleep(0.05)
        yield url
    finally:
        await client.aclose()
        proc.terminate()
        await proc.wait()


@pytest.fixture
def webhook_service(
    aiohttp_server, database_url: str, pool: BackendPool, bot_api: FakeBotApi
) -> Callable[..., Awaitable[TestServer]]:
    """The whole service in webhook mode, talking to the fake Bot API."""

    async def start(**overrides: object) -> TestServer:
        settings = bot_settings(
            database_url=database_url,
            telegram_api_base=bot_api.base_url,
            webhook_url=f"https://bot.example.com{HOOK}",
            webhook_secret=SecretStr(SECRET),
            **overrides,
        )
        server = await aiohttp_server(build_service(settings, pool=pool))
        await bot_api.wait_for("setWebhook")
        return server

    return start


async def post(server: TestServer, body: bytes) -> tuple[int, dict[str, object]]:
    async with (
        ClientSession() as http,
        http.post(server.make_url(HOOK), data=body, headers=HEADERS) as resp,
    ):
        return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize(
    ("body", "details"),
    [
        (start_update(1)[:-7], "the update is not valid JSON"),
        (b"", "the update is not valid JSON"),
        (b"\xff\xfe{}", "the update is not valid JSON"),
        (b"[1, 2]", "the body is not a Telegram update"),
        (b"{}", "the body is not a Telegram update"),
        (b'{"update_id": "one"}', "the body is not a Telegram update"),
        (b'{"update_id": 1, "message": 5}', "the body is not a Telegram update"),
    ],
)
async def test_a_malformed_webhook_body_with_the_right_secret_is_a_400(
    webhook_service, bot_api: FakeBotApi, body: bytes, details: str, caplog
) -> None:
    server = await webhook_service()
    assert await post(server, body) == (400, {"status": 400, "details": details})
    assert await post(server, start_update(2)) == (200, {})  # and the next update works
    assert len(bot_api.called("sendMessage")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_same_update_delivered_twice_is_handled_once(
    webhook_service, bot_api: FakeBotApi
) -> None:
    server = await webhook_service()
    assert await post(server, start_update(5)) == (200, {})
    assert await post(server, start_update(5)) == (200, {})
    assert await post(server, start_update(6)) == (200, {})
    assert len(bot_api.called("sendMessage")) == 2


async def test_with_redis_a_repeated_update_is_handled_once(
    webhook_service, bot_api: FakeBotApi, redis_url: str
) -> None:
    server = await webhook_service(redis_url=SecretStr(redis_url))
    first, again = await asyncio.gather(
        post(server, start_update(7)), post(server, start_update(7))
    )
    # Concurrent repeats: one is handled, the other acknowledged or told to retry (503).
    assert sorted([first[0], again[0]]) in ([200, 200], [200, 503])
    assert await post(server, start_update(7)) == (200, {})
    assert len(bot_api.called("sendMessage")) == 1
    redis = Redis.from_url(redis_url)
    [key] = await redis.keys("vpnkeys:webhook:*")
    assert key == f"vpnkeys:webhook:{BOT_USER.id}:7".encode()
    assert await redis.get(key) == b"done" and 0 < await redis.ttl(key) <= DONE_SECONDS
    await redis.aclose()


async def test_the_redis_update_log_is_shared_and_a_failed_handling_is_retried(
    redis_url: str,
) -> None:
    one, other = (RedisUpdateLog(Redis.from_url(redis_url)) for _ in range(2))
    assert await one.claim("k") is Claim.NEW
    assert await other.claim("k") is Claim.BUSY  # another instance is handling it
    assert 0 < await one._redis.ttl("k") <= CLAIM_SECONDS  # a crashed claim expires
    await one.release("k")  # the handling failed: Telegram's retry handles it
    assert await other.claim("k") is Claim.NEW
    await other.finish("k")
    assert await one.claim("k") is Claim.DONE
    await one.close()
    await other.close()


async def test_a_handling_that_fails_lets_the_repeat_through(
    webhook_service, bot_api: FakeBotApi, monkeypatch
) -> None:
    server = await webhook_service()
    feed = Dispatcher.feed_webhook_update
    calls = []

    async def once_broken(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("handler crashed")
        return await feed(self, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "feed_webhook_update", once_broken)
    assert (await post(server, start_update(9)))[0] == 500
    assert await post(server, start_update(9)) == (200, {})
    assert len(bot_api.called("sendMessage")) == 1


async def test_the_memory_update_log_forgets_after_an_hour() -> None:
    now = [0.0]
    log = MemoryUpdateLog(clock=lambda: now[0])
    assert await log.claim("k") is Claim.NEW
    assert await log.claim("k") is Claim.BUSY
    await log.finish("k")
    assert await log.claim("k") is Claim.DONE
    now[0] = DONE_SECONDS + 1
    assert await log.claim("k") is Claim.NEW
