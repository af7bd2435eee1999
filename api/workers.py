"""``serve --workers N``: N processes of the whole service sharing one port.

Each child is ``main.py serve --worker I``: the same service, listening on
``API_HOST:API_PORT`` with ``SO_REUSEPORT`` so that the kernel spreads connections over the
children. This parent only supervises: SIGTERM or SIGINT is passed on to every child, which
shuts down gracefully, and waited for; a child that dies is started again, unless it dies
within ``START_SECONDS`` of starting (a fault that would only repeat): then the others are
stopped too and the exit status is 1. A child also gets SIGTERM when this parent dies.

Several processes need PostgreSQL (SQLite serves one process); there exactly one of them at a
time runs the lifecycle worker (``domain.lifecycle.leader``). The bot long-polls in child 0
only (Telegram allows one poller); in webhook mode every child serves the webhook, and
conversation state must then be shared through ``REDIS_URL``.
"""

import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from domain.lifecycle.leader import is_postgres
from domain.settings import Settings

logger = logging.getLogger(__name__)

START_SECONDS = 10.0
STOP_SECONDS = 30.0
POLL_SECONDS = 0.2
_PR_SET_PDEATHSIG = 1


class WorkersRefused(Exception):
    """These settings cannot run several serving processes."""


def check(settings: Settings, count: int) -> None:
    """Refuse ``count`` processes where they cannot work, with the reason."""
    if count < 1:
        raise WorkersRefused("--workers must be at least 1")
    if count == 1:
        return
    if not is_postgres(settings.database_url):
        raise WorkersRefused(
            "--workers needs PostgreSQL (DATABASE_URL=postgres://…): SQLite serves one process"
        )
    if settings.api_port == 0:
        raise WorkersRefused("--workers needs a fixed API_PORT (0 picks a port per process)")
    if settings.bot_token and settings.webhook_url and settings.redis_url is None:
        raise WorkersRefused(
            "--workers with the bot in webhook mode needs REDIS_URL: the processes share "
            "conversation state there"
        )


def _die_with_parent() -> None:
    """In the child before it runs: SIGTERM when the supervisor goes away (Linux)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the children outlive it
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _start(main: Path, index: int, argv: list[str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(main), *argv, "serve", "--worker", str(index)]
    return subprocess.Popen(command, preexec_fn=_die_with_parent)


def _stop_all(children: dict[int, subprocess.Popen[bytes]], grace: float) -> bool:
    """SIGTERM every child, wait up to ``grace`` s, SIGKILL the rest; whether all exited 0."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    clean = True
    for child in children.values():
        try:
            code = child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        clean = clean and code == 0
    return clean


def supervise(main: Path, count: int, argv: list[str], grace: float = STOP_SECONDS) -> int:
    """Run ``count`` serving children of ``main`` until SIGTERM/SIGINT; the exit status."""
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    children = {index: _start(main, index, argv) for index in range(count)}
    started = dict.fromkeys(children, time.monotonic())
    logger.info("serving with %d processes: %s", count, [c.pid for c in children.values()])
    while not stopping:
        time.sleep(POLL_SECONDS)
        for index, child in list(children.items()):
            code = child.poll()
            if code is None or stopping:
                continue
            if time.monotonic() - started[index] < START_SECONDS:
                logger.error("process %d exited with %s at start-up: stopping all", index, code)
                _stop_all(children, grace)
                return 1
            logger.warning("process %d exited with %s: starting it again", index, code)
            children[index], started[index] = _start(main, index, argv), time.monotonic()
    return 0 if _stop_all(children, grace) else 1
