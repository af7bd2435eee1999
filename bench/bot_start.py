"""Bot: ``/start`` updates per second through ``Dispatcher.feed_update`` — the production
dispatcher (``bot.setup.build_dispatcher``; each /start registers a new user: a DB write) vs.
a bare dispatcher whose /start handler does nothing. A recording session stands in for
Telegram. ``python -m bench.bot_start [--updates 2000] [--concurrency 1] [--db both]``
"""

import argparse
import asyncio
import itertools
import time
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.filters import CommandStart
from aiogram.methods import TelegramMethod
from aiogram.types import Chat, Message, Update, User
from pydantic import SecretStr

from bench.common import Figure, each_engine, quiet, report
from bench.dbs import orm, pg_available, scratch_database
from bot.setup import build_dispatcher
from domain.context import Context
from domain.settings import Settings
from vpn.pool import BackendPool

TOKEN = "123456789:AAFakeTokenForBenchOnly_abcdefghijklmn"
BOT_USER = User(id=123456789, is_bot=True, first_name="bench")


class RecordingSession(BaseSession):
    """Counts Bot API calls and answers them with a plain message, as Telegram would."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def close(self) -> None:
        """Nothing to close."""

    async def stream_content(self, *args: Any, **kwargs: Any) -> Any:
        """Not used."""
        raise NotImplementedError

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109
    ) -> Any:
        self.calls += 1
        chat = Chat(id=int(getattr(method, "chat_id", 0) or 0), type="private")
        return Message(message_id=self.calls, date=datetime.now(UTC), chat=chat, text="ok")


def start_update(number: int) -> Update:
    """``/start`` from a user never seen before."""
    user = User(id=5_000_000 + number, is_bot=False, first_name=f"U{number}", language_code="en")
    message = Message(
        message_id=number,
        date=datetime.now(UTC),
        chat=Chat(id=user.id, type="private"),
        from_user=user,
        text="/start",
    )
    return Update(update_id=number, message=message)


def noop_dispatcher() -> Dispatcher:
    """A dispatcher with one /start handler that does nothing."""

    async def cmd_start(message: Message) -> None:
        return None

    router = Router()
    router.message.register(cmd_start, CommandStart())
    dp = Dispatcher()
    dp.include_router(router)
    return dp


async def rate(dp: Dispatcher, bot: Bot, updates: int, concurrency: int, first: int) -> float:
    """Updates per second fed through ``dp``, ``concurrency`` at a time."""
    numbers = itertools.count(first)
    gate = asyncio.Semaphore(concurrency)

    async def feed(update: Update) -> None:
        async with gate:
            await dp.feed_update(bot, update)

    batch = [start_update(next(numbers)) for _ in range(updates)]
    await quiet()
    started = time.perf_counter()
    await asyncio.gather(*(feed(u) for u in batch))
    return updates / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("bot_start: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    noop = noop_dispatcher()
    await rate(noop, bot, 200, args.concurrency, 0)  # warm-up
    base = await rate(noop, bot, args.updates, args.concurrency, 0)
    settings = Settings(_env_file=None, bot_token=SecretStr(TOKEN))  # type: ignore[call-arg]
    async with scratch_database(args.db) as url, orm(url):
        pool = BackendPool(timeout=5)
        dp = build_dispatcher(Context(pool=pool), settings)
        await rate(dp, bot, 200, args.concurrency, 10**6)  # warm-up
        before = session.calls
        got = await rate(dp, bot, args.updates, args.concurrency, 2 * 10**6)
        replies = session.calls - before
        await pool.close()
    print(f"bot_start {args.db}: {got:.0f}/s vs no-op {base:.0f}/s, {replies} replies")
    note = f"({args.db}, concurrency {args.concurrency}, {replies} replies sent)"
    ok = got >= 1000 and got >= 0.3 * base and replies == args.updates
    return [
        Figure("bot", "/start", got, "updates/s", base, "no-op handler",
               "≥ 1,000/s and ≥ 0.3×", ok, note),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_start")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args(argv)
    if not each_engine("bench.bot_start", argv, args.db):
        report(f"bot_start-{args.db}-c{args.concurrency}", asyncio.run(run(args)))


if __name__ == "__main__":
    main()
