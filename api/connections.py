"""The HTTP server's defence against slow and hostile clients (aiohttp has none of its own).

* **Header timeout**: a new connection must send a whole request head within
  ``header_timeout`` seconds, or it is closed (kept-alive connections are closed after
  aiohttp's keep-alive timeout, also while they wait for the next head).
* **Connection cap**: at most ``max_connections`` are open. A new one beyond the cap closes
  the oldest idle kept-alive connection, else the new connection that has waited longest for
  its request head; when every other connection is busy with a request, the new one gets a
  503 and is closed.
* **Malformed requests** are answered with the JSON envelope and logged in one line: aiohttp
  would log a traceback quoting the offending bytes, which may be a header value (a token).

Dropped connections are counted and logged at most once a minute, however many there are.
"""

import asyncio
import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from api.accesslog import UNPARSED
from api.responses import ErrorEnvelope, reply

logger = logging.getLogger(__name__)

REPORT_SECONDS = 60.0
_BUSY = json.dumps({"status": 503, "details": "too many connections; try again"}).encode()
BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY)
)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many connections may be open, and how long a request head may take."""

    max_connections: int
    header_timeout: float


class ApiProtocol(RequestHandler):
    """aiohttp's protocol, answering a request it cannot parse without echoing or logging it."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A 4xx from the parser becomes the envelope; its message (the bytes) is dropped."""
        if status >= 500:
            return super().handle_error(request, status, exc, message)
        logger.debug("malformed request from %s: %s", request.remote, type(exc).__name__)
        request[UNPARSED] = True
        response = reply(ErrorEnvelope(status=status, details="malformed HTTP request"))
        response.force_close()
        return response


class DropTally:
    """Counts closed connections by reason; logs the counts at most once a minute."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: ConnectionLimits) -> None:
        self._loop, self._limits = loop, limits
        self._counts: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, reason: str) -> None:
        """Count one; the first after a quiet minute is logged at once."""
        self._counts[reason] += 1
        if self._timer is None:
            self.flush()

    def flush(self, *, again: bool = True) -> None:
        """Log what was counted since the last line (if anything); ``again``: in a minute."""
        self._timer = None
        if not self._counts:
            return
        counts = ", ".join(f"{n} {reason}" for reason, n in sorted(self._counts.items()))
        logger.warning(
            "closed client connections: %s (limits: %d open, %g s for a request head)",
            counts,
            self._limits.max_connections,
            self._limits.header_timeout,
        )
        self._counts.clear()
        if again:
            self._timer = self._loop.call_later(REPORT_SECONDS, self.flush)

    def close(self) -> None:
        """Log what is pending and stop."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush(again=False)


class ApiServer(web.Server):
    """aiohttp's server with the header timeout and the connection cap of ``limits``."""

    def __init__(self, handler: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(self._tracked(handler), **kwargs)
        self.limits = limits
        self._open: set[RequestHandler] = set()
        # Connections not handling a request, oldest first, with the time they began waiting:
        # new ones (timed here) and kept-alive ones (aiohttp's keep-alive timeout closes them).
        self._new: dict[RequestHandler, float] = {}
        self._idle: dict[RequestHandler, float] = {}
        self._sweep_at: asyncio.TimerHandle | None = None
        self._tally = DropTally(self._loop, limits)

    def __call__(self) -> RequestHandler:
        return ApiProtocol(self, loop=self._loop, **self._kwargs)

    def _tracked(self, handler: Any) -> Any:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            protocol = request.protocol
            self._new.pop(protocol, None)
            self._idle.pop(protocol, None)
            try:
                return await handler(request)
            finally:
                if protocol in self._open:
                    self._idle[protocol] = self._loop.time()

        return handle

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        self._open.add(handler)
        self._new[handler] = self._loop.time()
        if len(self._open) > self.limits.max_connections:
            self._make_room(handler, transport)
        self._schedule_sweep()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        super().connection_lost(handler, exc)
        self._forget(handler)

    def _forget(self, handler: RequestHandler) -> None:
        self._open.discard(handler)
        self._new.pop(handler, None)
        self._idle.pop(handler, None)

    def _make_room(self, new: RequestHandler, transport: asyncio.Transport) -> None:
        """Close an idle connection, else the slowest new one, else refuse ``new``."""
        if self._idle:
            oldest = next(iter(self._idle))
            self._forget(oldest)
            oldest.force_close()  # clients expect idle keep-alive connections to close
            return
        oldest = next(iter(self._new))
        if oldest is not new:
            self._drop(oldest, "to make room (connection cap)")
            return
        transport.write(BUSY_REPLY)  # every other connection is busy with a request
        self._drop(new, "refused with 503 (connection cap, all busy)")

    def _drop(self, handler: RequestHandler, reason: str) -> None:
        self._forget(handler)
        handler.force_close()
        self._tally.add(reason)

    def _schedule_sweep(self) -> None:
        if self._sweep_at is None and self._new:
            since = next(iter(self._new.values()))
            when = since + self.limits.header_timeout
            self._sweep_at = self._loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        """Close every new connection whose request head is overdue."""
        self._sweep_at = None
        deadline = self._loop.time() - self.limits.header_timeout
        while self._new:
            handler, since = next(iter(self._new.items()))
            if since > deadline:
                break
            self._drop(handler, "without a request head in time")
        self._schedule_sweep()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's)
        if self._sweep_at is not None:
            self._sweep_at.cancel()
            self._sweep_at = None
        self._tally.close()
        await super().shutdown(timeout)
