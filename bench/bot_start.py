"""Bot: ``/start`` updates per second through ``Dispatcher.feed_update`` — the production
dispatcher (``bot.setup.build_dispatcher``; each /start registers a new user: a DB write),
logging as ``main.py serve`` configures it (aiogram's line per update; and with
``ACCESS_LOG=false``, without it), vs. a bare dispatcher whose /start handler does nothing,
in interleaved rounds on the service's event loop. A recording session stands in for
Telegram; the log goes to /dev/null.
``python -m bench.bot_start [--updates 2000] [--rounds 3] [--concurrency 1] [--db both]``
"""

import argparse
import asyncio
import itertools
import logging
import os
import time
from collections.abc import Awaitable, Callable
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

from api.serving import freeze_start_up
from bench.common import (
    Figure,
    each_engine,
    interleaved,
    loop_factory_name,
    report,
    rounds_figure,
    run_on_service_loop,
)
from bench.dbs import add_synchronous, orm, pg_available, scratch_database, sqlite_synchronous
from bot.setup import build_dispatcher
from domain.context import Context
from domain.operations.logs import configure_logging
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


def start_update(number: int) -> dict[str, Any]:
    """``/start`` from a user never seen before, as Telegram sends it."""
    user = {"id": 5_000_000 + number, "is_bot": False, "first_name": f"U{number}",
            "language_code": "en"}  # fmt: skip
    chat = {"id": user["id"], "type": "private"}
    message = {"message_id": number, "date": int(time.time()), "chat": chat, "from": user,
               "text": "/start"}  # fmt: skip
    return {"update_id": number, "message": message}


def noop_dispatcher() -> Dispatcher:
    """A dispatcher with one /start handler that does nothing."""

    async def cmd_start(message: Message) -> None:
        return None

    router = Router()
    router.message.register(cmd_start, CommandStart())
    dp = Dispatcher()
    dp.include_router(router)
    return dp


def log_as_served(access_log: bool, stream: Any) -> None:
    """Logging as ``main.py serve`` configures it, with ``ACCESS_LOG`` as given, to ``stream``."""
    configure_logging(Settings(_env_file=None, access_log=access_log))  # type: ignore[call-arg]
    logging.getLogger().handlers[0].setStream(stream)


async def rate(dp: Dispatcher, bot: Bot, updates: int, concurrency: int, first: int) -> float:
    """Updates per second fed through ``dp``, ``concurrency`` at a time."""
    numbers = itertools.count(first)
    gate = asyncio.Semaphore(concurrency)

    async def feed(update: dict[str, Any]) -> None:
        async with gate:  # parsed as polling parses ``getUpdates``: bound to the bot
            await dp.feed_update(bot, Update.model_validate(update, context={"bot": bot}))

    batch = [start_update(next(numbers)) for _ in range(updates)]
    started = time.perf_counter()
    await asyncio.gather(*(feed(u) for u in batch))
    return updates / (time.perf_counter() - started)


async def run(args: argparse.Namespace) -> list[Figure]:
    if args.db == "postgres" and not await pg_available():
        print("bot_start: PostgreSQL is not reachable (.ci/pg-start); skipped")
        return []
    session = RecordingSession()
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    settings = Settings(_env_file=None, bot_token=SecretStr(TOKEN))  # type: ignore[call-arg]
    firsts = itertools.count(0, 10**6)  # every round's users are new ones
    quiet = "/start, ACCESS_LOG=false"
    async with (
        scratch_database(args.db) as scratch,
        orm(sqlite_synchronous(scratch, args.sqlite_synchronous)),
    ):
        pool = BackendPool(timeout=5)
        start = build_dispatcher(Context(pool=pool), settings)
        # (dispatcher, aiogram's line per update): the no-op one is aiogram's dispatch alone.
        dispatchers = {
            "no-op": (noop_dispatcher(), False),
            "/start": (start, True),
            quiet: (start, False),
        }
        starts = [name for name, (dp, _) in dispatchers.items() if dp is start]

        def measure(name: str, count: int) -> Callable[[], Awaitable[float]]:
            dp, access_log = dispatchers[name]

            async def once() -> float:
                log_as_served(access_log, devnull)
                return await rate(dp, bot, count, args.concurrency, next(firsts))

            return once

        with open(os.devnull, "w") as devnull:  # noqa: ASYNC230 (never blocks)
            for name in dispatchers:
                await measure(name, 200)()  # warm-up
            freeze_start_up()  # as ``serve`` does once it listens
            before = session.calls
            runs = {name: measure(name, args.updates) for name in dispatchers}
            got = await interleaved(args.rounds, runs)
            replies = session.calls - before
            logging.getLogger().handlers.clear()
        await pool.close()
    expected = len(starts) * args.rounds * args.updates  # one reply per /start
    sync = f" synchronous={args.sqlite_synchronous}" if args.db == "sqlite" else ""
    note = (
        f"({args.db}{sync}, concurrency {args.concurrency}, {args.rounds} rounds of "
        f"{args.updates}, {loop_factory_name()}, {replies} replies sent)"
    )
    ok = replies == expected
    return [
        rounds_figure("bot", name, got[name], "updates/s", got["no-op"], "no-op handler",
                      "≥ 1,000/s", lambda v, r: v >= 1000 and ok, note)
        for name in starts
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bot_start")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    add_synchronous(parser)
    args = parser.parse_args(argv)
    if not each_engine("bench.bot_start", argv, args.db):
        report(f"bot_start-{args.db}-c{args.concurrency}", run_on_service_loop(run(args)))


if __name__ == "__main__":
    main()
