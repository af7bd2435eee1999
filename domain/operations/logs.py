"""Log set-up: plain text or one JSON object per line; one-shot commands stay quiet.

``line_writer`` gives a hot path (the access log: one line per API request) a way to write
INFO lines exactly as the configured handler would, without building a ``LogRecord``: in the
service, building and formatting records took ~60 µs of a ~400 µs read.
"""

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

from domain.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
JSON_RENAMES = {"levelname": "level", "name": "logger"}
JSON_TIME = "time"
# Libraries whose INFO lines are noise to an operator ("Tortoise-ORM shutdown").
CHATTY = ("tortoise",)
# aiogram's line per bot update ("Update id=… is handled. Duration … ms"): the bot's access
# log, off with the API's (``ACCESS_LOG=false``); its warnings and errors stay.
UPDATE_LOG = "aiogram.event"


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter for ``LOG_FORMAT`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES, timestamp=JSON_TIME)
    return logging.Formatter(TEXT_FORMAT)


class ServiceHandler(logging.StreamHandler):
    """The handler ``configure_logging`` installs, remembering its ``LOG_FORMAT``."""

    def __init__(self, log_format: str) -> None:
        super().__init__(sys.stderr)
        self.log_format = log_format
        self.setFormatter(formatter_for(log_format))


def configure_logging(settings: Settings, *, one_shot: bool = False) -> None:
    """Log to stderr; a one-shot CLI command shows only warnings and errors besides its output."""
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    if one_shot:
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, handlers=[ServiceHandler(settings.log_format)], force=True)
    # None of the formats shows a caller, thread or process: not gathering them makes every
    # record cheaper (the logging HOWTO's advice).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    quiet = max(level, logging.WARNING)
    for name in CHATTY:
        logging.getLogger(name).setLevel(quiet)
    logging.getLogger(UPDATE_LOG).setLevel(logging.NOTSET if settings.access_log else quiet)


class _Stamps:
    """``asctime`` as ``logging.Formatter`` writes it, the date part made once per second."""

    def __init__(self) -> None:
        self._second, self._text = -1, ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._text = time.strftime(
                logging.Formatter.default_time_format, time.localtime(second)
            )
        return logging.Formatter.default_msec_format % (self._text, int((created - second) * 1000))


def line_writer(
    logger: logging.Logger, *, harmless: tuple[type[logging.Filter], ...] = ()
) -> Callable[[str], None] | None:
    """A function writing one INFO line of ``logger`` as the configured handler would format
    it, or ``None`` when the lines must go through ``logging`` (a handler other than
    ``configure_logging``'s, or a filter not of a ``harmless`` type — one that would pass the
    caller's lines unchanged —, is in their way, as in tests that capture logs)."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if any(not isinstance(f, harmless) for f in current.filters):
            return None
        handlers += current.handlers
        current = current.parent if current.propagate else None
    if len(handlers) != 1 or not isinstance(handlers[0], ServiceHandler):
        return None
    handler = handlers[0]
    if handler.filters or handler.level > logging.INFO:
        return None
    stream, lock, line = handler.stream, handler.lock, _line_maker(handler.log_format, logger.name)

    def write(message: str) -> None:
        text = line(message)
        try:
            with lock:  # a StreamHandler always has one
                stream.write(text)
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: the line is lost, never
            pass  # the request (``logging`` too only reports such an error, on that stream)

    return write


def _line_maker(log_format: str, name: str) -> Callable[[str], str]:
    """``message`` as an INFO line of logger ``name``, formatted as ``formatter_for`` does."""
    if log_format == "json":
        level, logger = JSON_RENAMES["levelname"], JSON_RENAMES["name"]

        def json_line(message: str) -> str:
            when = datetime.fromtimestamp(time.time(), tz=UTC).isoformat()
            return (
                json.dumps({level: "INFO", logger: name, "message": message, JSON_TIME: when})
                + "\n"
            )

        return json_line
    stamps, prefix = _Stamps(), f" INFO {name}: "
    return lambda message: stamps(time.time()) + prefix + message + "\n"
