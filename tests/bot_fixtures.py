"""Bot test fixtures: a recording Bot API session (after aiogram's tests/mocked_bot.py), the
production dispatcher on a test database, and helpers that feed updates and return the calls."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from types import UnionType
from typing import Any, get_args

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import CreateInvoiceLink, GetMe, TelegramMethod
from aiogram.types import (
    CallbackQuery,
    Chat,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from aiohttp import web
from pydantic import SecretStr

from bot.setup import build_dispatcher
from domain.context import Context
from domain.settings import Settings

TOKEN = "123456789:AAFakeTokenForTestsOnly_abcdefghijklmn"
BOT_USER = User(id=123456789, is_bot=True, first_name="VPN keys", username="vpnkeys_bot")
ADMIN_ID = 900
ANN = User(id=100, is_bot=False, first_name="Ann", username="ann", language_code="en")
BORIS = User(id=200, is_bot=False, first_name="Борис", username="boris", language_code="ru")
ADMIN = User(id=ADMIN_ID, is_bot=False, first_name="Root", username="root", language_code="en")
FIXED_NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
INVOICE_LINK = "https://t.me/$invoice-"


class RecordingSession(BaseSession):
    """Records every Bot API request and answers it the way Telegram would."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        # chat id or method name (``"EditMessageText"``) -> (status, description)
        self.errors: dict[int | str, tuple[int, str]] = {}
        self._ids = itertools.count(1000)

    async def close(self) -> None:
        """Nothing to close."""

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncIterator[bytes]:
        """Not used by the bot."""
        yield b""

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        """Record ``method``; fail it when its chat is set to fail, else answer it."""
        self.requests.append(method)
        failure = self.errors.get(type(method).__name__) or self.errors.get(
            getattr(method, "chat_id", None) or 0
        )
        if failure is not None:
            status, description = failure
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if status == 429:  # "Too Many Requests: retry after N"
                body["parameters"] = {"retry_after": int(description.rsplit(" ", 1)[-1])}
            self.check_response(bot, method, status_code=status, content=json.dumps(body))
        return self._result(method)

    def _result(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, GetMe):
            return BOT_USER
        if isinstance(method, CreateInvoiceLink):
            return INVOICE_LINK + method.payload
        returning = method.__returning__
        kinds = get_args(returning) if isinstance(returning, UnionType) else (returning,)
        if Message not in kinds:
            return True
        chat_id = getattr(method, "chat_id", None) or 0
        return Message(
            message_id=getattr(method, "message_id", None) or next(self._ids),
            date=datetime.now(UTC),
            chat=Chat(id=int(chat_id), type="private"),
            from_user=BOT_USER,
            text=getattr(method, "text", None),
        )


def buttons(markup: InlineKeyboardMarkup | None) -> list[list[tuple[str, str]]]:
    """An inline keyboard as rows of ``(text, callback data or URL)``."""
    if markup is None:
        return []
    return [
        [(b.text, b.callback_data or b.url or "") for b in row] for row in markup.inline_keyboard
    ]


def outdated(calls: list[TelegramMethod[Any]]) -> bool:
    """Whether a button press got only the answer of a button nothing handles (English)."""
    return [(type(c).__name__, getattr(c, "text", None)) for c in calls] == [
        ("AnswerCallbackQuery", "This button no longer works. Send /start for the menu.")
    ]


class TelegramUser:
    """Sends messages and presses buttons as one Telegram user; returns the bot's calls."""

    def __init__(self, harness: "BotHarness", user: User) -> None:
        self.harness, self.user = harness, user

    async def send(self, text: str) -> list[TelegramMethod[Any]]:
        """The user sends ``text`` in the private chat."""
        message = Message(
            message_id=next(self.harness.ids),
            date=datetime.now(UTC),
            chat=Chat(id=self.user.id, type="private"),
            from_user=self.user,
            text=text,
        )
        return await self.harness.feed(Update(update_id=next(self.harness.ids), message=message))

    async def press(
        self, data: str | CallbackData, message_id: int = 1
    ) -> list[TelegramMethod[Any]]:
        """The user presses a button carrying ``data`` under bot message ``message_id``."""
        packed = data.pack() if isinstance(data, CallbackData) else data
        message = Message(
            message_id=message_id,
            date=datetime.now(UTC),
            chat=Chat(id=self.user.id, type="private"),
            from_user=BOT_USER,
            text="…",
        )
        query = CallbackQuery(
            id=str(next(self.harness.ids)),
            from_user=self.user,
            chat_instance="test",
            message=message,
            data=packed,
        )
        return await self.harness.feed(
            Update(update_id=next(self.harness.ids), callback_query=query)
        )


class BotHarness:
    """The production dispatcher with a recording bot."""

    def __init__(self, dp: Dispatcher, bot: Bot, session: RecordingSession) -> None:
        self.dp, self.bot, self.session = dp, bot, session
        self.ids = itertools.count(1)

    async def feed(self, update: Update) -> list[TelegramMethod[Any]]:
        """Feed one update and return the Bot API calls it caused."""
        before = len(self.session.requests)
        await self.dp.feed_update(self.bot, update)
        return self.session.requests[before:]

    def as_user(self, user: User) -> TelegramUser:
        """A client acting as ``user``."""
        return TelegramUser(self, user)


def bot_settings(**overrides: Any) -> Settings:
    """Settings for bot tests: the test token and one admin, no ``.env``."""
    values: dict[str, Any] = {"bot_token": SecretStr(TOKEN), "admin_ids": frozenset({ADMIN_ID})}
    return Settings(_env_file=None, **(values | overrides))  # type: ignore[call-arg]


@pytest.fixture
def bot_ctx(pool) -> Context:
    """A domain context whose clock stands still, so texts with dates are exact."""
    return Context(pool=pool, clock=lambda: FIXED_NOW)


@pytest.fixture
def make_harness(db: str, bot_ctx: Context) -> Callable[..., BotHarness]:
    """Build a harness around ``build_dispatcher`` (throttling off unless asked for; keyword
    arguments are settings)."""

    def make(throttle_seconds: float = 0.0, **settings: Any) -> BotHarness:
        session = RecordingSession()
        bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
        config = bot_settings(**settings)
        dp = build_dispatcher(bot_ctx, config, throttle_seconds=throttle_seconds)
        return BotHarness(dp, bot, session)

    return make


@pytest.fixture
def tg(make_harness: Callable[..., BotHarness]) -> BotHarness:
    """The production dispatcher with a recording bot, throttling off."""
    return make_harness()


class FakeBotApi:
    """A recording Bot API server over real HTTP: answers what the bot calls, queues updates
    for getUpdates, and refuses messages to chats marked as having blocked the bot."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []
        self.blocked: set[int] = set()
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self.base_url = ""
        self.app = web.Application()
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)

    def queue(self, update: Update) -> None:
        """Deliver ``update`` to the next getUpdates."""
        self.updates.append(json.loads(update.model_dump_json(exclude_none=True)))

    def called(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every call of ``method`` so far."""
        return [params for name, params in self.calls if name == method]

    async def wait_for(self, method: str, count: int = 1) -> list[dict[str, Any]]:
        """Wait (10 s at most) until ``method`` was called ``count`` times; return the calls."""
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: len(self.called(method)) >= count)
        return self.called(method)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params: dict[str, Any] = {}
        for name, value in form.items():
            params[name] = value.file.read() if isinstance(value, web.FileField) else value
        for name, value in list(params.items()):  # files travel as "attach://<part name>"
            if isinstance(value, str) and value.startswith("attach://"):
                params[name] = params.pop(value.removeprefix("attach://"))
        if method == "getUpdates":
            return await self._get_updates(params)
        async with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        chat_id = int(params.get("chat_id", 0) or 0)
        if chat_id in self.blocked:
            body = {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"}
            return web.json_response(body, status=403)
        return web.json_response({"ok": True, "result": self._result(method, params, chat_id)})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0) or 0)
        for _ in range(20):  # answer within ~0.2 s so shutdown never waits on a long poll
            pending = [u for u in self.updates if u["update_id"] >= offset]
            if pending:
                return web.json_response({"ok": True, "result": pending})
            await asyncio.sleep(0.01)
        return web.json_response({"ok": True, "result": []})

    def _result(self, method: str, params: dict[str, Any], chat_id: int) -> Any:
        if method == "getMe":
            return json.loads(BOT_USER.model_dump_json(exclude_none=True))
        if method in ("sendMessage", "sendPhoto", "editMessageText"):
            message_id = int(params.get("message_id") or 0) or next(self._ids)
            chat = {"id": chat_id, "type": "private", "first_name": "x"}
            return {"message_id": message_id, "date": 0, "chat": chat, "text": "…"}
        return True


@pytest.fixture
async def bot_api(aiohttp_server) -> FakeBotApi:
    """The fake Bot API server, listening on 127.0.0.1."""
    api = FakeBotApi()
    api.base_url = str((await aiohttp_server(api.app)).make_url("")).rstrip("/")
    return api
