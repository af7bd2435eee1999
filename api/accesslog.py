"""The access log: one line per request that names the route, never what the client sent.

aiohttp's default line is the raw request line, query string included, so a token sent as
``?token=…`` or a secret in a path (``/conf/{secret}``) would be written whole. This line
carries the matched route's template instead (``/api/vpn_token/{id}/{srv_name}/``); a path
no route matched is written without its query string, with any segment long enough to be a
secret elided.
"""

import logging
import re

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from domain.operations.logs import line_writer

# A path segment this long may be a token or a link secret (ours are 22+ characters).
_LONG_SEGMENT = re.compile(r"[^/]{17,}")
_MAX_PATH = 200
# Set on a request the parser refused (it never reached the router, so it has no route).
UNPARSED = web.RequestKey("unparsed", bool)
# The dynamic links' route (``api/views/links.py``): the secret is in the path.
LINK_ROUTE = "/conf/{secret}"
_LINK_PATH = re.compile(r"/conf/[^\s?#\"/]+")


class HideLinkSecrets(logging.Filter):
    """Writes ``/conf/{secret}`` for any link path in an access log line, whichever access
    logger wrote it (aiohttp's default one writes the raw request line; this module's lines
    never hold one, so they need not pass it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/conf/" in message:
            record.msg, record.args = _LINK_PATH.sub(LINK_ROUTE, message), ()
        return True


def route_template(request: web.BaseRequest) -> str | None:
    """The template of the route that matched ``request``, or None when none did."""
    if not isinstance(request, web.Request) or request.get(UNPARSED):
        return None
    resource = request.match_info.route.resource
    return None if resource is None else resource.canonical


def logged_path(request: web.BaseRequest) -> str:
    """What the access log shows of the request's target: never its query or a secret."""
    template = route_template(request)
    if template is not None:
        return template
    return _LONG_SEGMENT.sub("…", request.rel_url.path)[:_MAX_PATH]


class AccessLogger(AbstractAccessLogger):
    """``<remote> <method> <route> <status> <milliseconds>ms`` at INFO on ``aiohttp.access``;
    written straight to the service's log handler when nothing else listens
    (``logs.line_writer``), else through ``logging``."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._write = line_writer(logger, harmless=(HideLinkSecrets,))

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        """Write one line (only called when INFO is on)."""
        line = f"{request.remote} {request.method} {logged_path(request)} {response.status}"
        line += f" {time * 1000:.1f}ms"
        if self._write is None:
            self.logger.info("%s", line)
        else:
            self._write(line)

    @property
    def enabled(self) -> bool:
        """Whether a line would be written (aiohttp skips timing the request otherwise)."""
        return self.logger.isEnabledFor(logging.INFO)
