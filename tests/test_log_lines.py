"""``logs.line_writer``: the access log's lines, written without a ``LogRecord``, are the
lines the configured handler would write; anything else listening gets them through
``logging``. ``ACCESS_LOG`` covers the bot's line per update too."""

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from domain.operations import logs
from domain.settings import Settings

MESSAGE = '127.0.0.1 GET /api/user/{tg_id}/ 200 1.5ms "…"'


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Undo what ``configure_logging`` sets process-wide, for the tests after these."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    gathered = logging.logThreads, logging.logProcesses, logging.logMultiprocessing
    srcfile = logging._srcfile
    chatty = {name: logging.getLogger(name).level for name in (*logs.CHATTY, logs.UPDATE_LOG)}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.logThreads, logging.logProcesses, logging.logMultiprocessing = gathered
    logging._srcfile = srcfile
    for name, was in chatty.items():
        logging.getLogger(name).setLevel(was)


class Harmless(logging.Filter):
    """A filter the writer's caller knows would pass its lines unchanged."""


def configured(log_format: str) -> tuple[logging.Logger, io.StringIO]:
    logs.configure_logging(Settings(_env_file=None, log_format=log_format))
    [handler] = logging.getLogger().handlers
    assert isinstance(handler, logs.ServiceHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    return logging.getLogger("test_log_lines.access"), stream  # no other test touches it


def through_logging(logger: logging.Logger, stream: io.StringIO) -> str:
    logger.info("%s", MESSAGE)
    line = stream.getvalue()
    stream.seek(0)
    stream.truncate()
    return line


@pytest.mark.usefixtures("restored_logging")
def test_a_text_line_is_the_formatters_line() -> None:
    logger, stream = configured("text")
    write = logs.line_writer(logger)
    assert write is not None
    expected = through_logging(logger, stream)
    write(MESSAGE)
    line = stream.getvalue()
    assert line[23:] == expected[23:] and line.endswith(MESSAGE + "\n")
    stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")  # the formatter's asctime
    assert abs((stamp - datetime.now()).total_seconds()) < 5


@pytest.mark.usefixtures("restored_logging")
def test_a_json_line_is_the_formatters_object() -> None:
    logger, stream = configured("json")
    write = logs.line_writer(logger)
    assert write is not None
    expected = json.loads(through_logging(logger, stream))
    write(MESSAGE)
    got = json.loads(stream.getvalue())
    assert list(got) == list(expected)
    assert {**got, "time": None} == {**expected, "time": None}
    assert datetime.fromisoformat(got["time"]).utcoffset() is not None


@pytest.mark.usefixtures("restored_logging")
def test_lines_go_through_logging_when_anything_else_listens() -> None:
    logger, _ = configured("text")
    extra = logging.NullHandler()
    logger.addHandler(extra)
    try:
        assert logs.line_writer(logger) is None
    finally:
        logger.removeHandler(extra)
    logger.addFilter(Harmless())
    assert logs.line_writer(logger, harmless=(Harmless,)) is not None
    logger.addFilter(lambda record: True)
    try:
        assert logs.line_writer(logger, harmless=(Harmless,)) is None
    finally:
        logger.filters.clear()
    logging.getLogger().handlers[:] = [logging.StreamHandler(io.StringIO())]
    assert logs.line_writer(logger) is None


@pytest.mark.usefixtures("restored_logging")
def test_a_line_the_stream_refuses_is_dropped_without_an_error() -> None:
    logger, stream = configured("text")
    write = logs.line_writer(logger)
    assert write is not None
    stream.close()
    write(MESSAGE)


@pytest.mark.usefixtures("restored_logging")
def test_the_bots_line_per_update_follows_the_access_log_setting() -> None:
    update_log = logging.getLogger(logs.UPDATE_LOG)
    logs.configure_logging(Settings(_env_file=None, access_log=False))
    assert not update_log.isEnabledFor(logging.INFO)
    assert update_log.isEnabledFor(logging.WARNING)  # its errors are still written
    logs.configure_logging(Settings(_env_file=None))
    assert update_log.isEnabledFor(logging.INFO)
