"""Log set-up: plain text or one JSON object per line; one-shot commands stay quiet."""

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from domain.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
# Libraries whose INFO lines are noise to an operator ("Tortoise-ORM shutdown").
CHATTY = ("tortoise",)


def formatter_for(log_format: str) -> logging.Formatter:
    """The formatter for ``LOG_FORMAT`` (``text`` or ``json``)."""
    if log_format == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings, *, one_shot: bool = False) -> None:
    """Log to stderr; a one-shot CLI command shows only warnings and errors besides its output."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(settings.log_format))
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    if one_shot:
        level = max(level, logging.WARNING)
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # None of the formats shows a caller, thread or process: not gathering them makes every
    # record (one per API request in the access log) cheaper (the logging HOWTO's advice).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
