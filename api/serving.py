"""Running the app: ``run(app, settings)`` serves it on ``API_HOST:API_PORT`` until SIGTERM.

Like ``web.run_app`` but through ``ApiRunner``, whose server has the limits of
``api.connections`` and the access log of ``api.accesslog`` (none with ``ACCESS_LOG=false``);
the connection cap is fitted under the process's file-descriptor limit, so accepting never
fails for want of one. The event loop is uvloop's unless ``UVLOOP=false`` (``api.eventloop``).
"""

import asyncio
import gc
import logging
import resource
import signal
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from api.accesslog import AccessLogger
from api.connections import ApiServer, ConnectionLimits
from api.eventloop import loop_factory, loop_name
from domain.settings import Settings

logger = logging.getLogger(__name__)

BACKLOG = 128
KEEPALIVE_SECONDS = 75.0  # what ``web.run_app`` uses; longer than most proxies' idle timeout
# Descriptors kept free besides client connections: a tick's worth of accepts before any is
# closed (asyncio accepts up to BACKLOG at once), the database, VPN servers, Telegram, logs.
FD_RESERVE = BACKLOG + 128
ACCEPT_ERROR = "socket.accept() out of system resource"


class ApiRunner(web.AppRunner):
    """An ``AppRunner`` whose server is an ``ApiServer`` with ``limits``."""

    def __init__(self, app: web.Application, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        kwargs.setdefault("access_log_class", AccessLogger)
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_SECONDS)
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()  # starts the app, builds aiohttp's own server
        return ApiServer(
            plain.request_handler,
            limits=self.limits,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            **plain._kwargs,  # what the app and this runner configured for each connection
        )


def fitted_limits(settings: Settings) -> ConnectionLimits:
    """The configured limits, the cap lowered (with a warning) to fit the descriptor limit."""
    wanted = settings.api_max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        raised = need if hard == resource.RLIM_INFINITY else min(hard, need)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    cap = wanted
    if soft != resource.RLIM_INFINITY and soft < need:
        cap = max(1, soft - FD_RESERVE)
        logger.warning(
            "API_MAX_CONNECTIONS=%d does not fit the open-file limit (%d): serving at most %d",
            wanted,
            soft,
            cap,
        )
    return ConnectionLimits(cap, header_timeout=settings.api_header_timeout_seconds)


def freeze_start_up() -> None:
    """Put what start-up made (modules, the ORM's and aiogram's metadata, settings) out of the
    garbage collector's reach: its full collections then walk only what the service makes
    while it runs. (They took a third of a steady 100,000-key traffic sync.)"""
    gc.collect()
    gc.freeze()


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log asyncio's "out of file descriptors" accept errors once a minute, without traceback.

    (Python 3.11 logs one, with a traceback, per pending connection and retry: 261,393 ERROR
    lines in one incident.)
    """
    next_log, count = 0.0, 0

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal next_log, count
        if context.get("message") != ACCEPT_ERROR:
            loop.default_exception_handler(context)
            return
        count += 1
        if time.monotonic() >= next_log:
            error = context.get("exception")
            logger.error("cannot accept connections: %s (%d times)", error, count)
            next_log, count = time.monotonic() + 60, 0

    loop.set_exception_handler(handler)


async def serve(
    app: web.Application,
    settings: Settings,
    *,
    listening: Callable[[str], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut it down gracefully.

    ``listening`` is called with the site's URL once the socket is bound; ``reuse_port``
    shares the port with the other processes of ``serve --workers`` (``SO_REUSEPORT``).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    quiet_accept_errors(loop)
    access_log = logging.getLogger("aiohttp.access") if settings.access_log else None
    runner = ApiRunner(app, limits=fitted_limits(settings), access_log=access_log)
    await runner.setup()
    try:
        site = web.TCPSite(
            runner,
            settings.api_host,
            settings.api_port,
            backlog=BACKLOG,
            reuse_port=reuse_port or None,
        )
        await site.start()
        freeze_start_up()
        if listening is not None:
            listening(site.name)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(
    app: web.Application,
    settings: Settings,
    *,
    listening: Callable[[str], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """``serve`` in a new event loop (uvloop's unless ``UVLOOP=false``)."""
    factory = loop_factory(settings)
    logger.info("serving on the %s event loop", loop_name(factory))
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(app, settings, listening=listening, reuse_port=reuse_port))
