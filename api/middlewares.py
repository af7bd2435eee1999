"""The app's middlewares: request metrics, the one place errors become responses, and the
body read timeout."""

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from pydantic import ValidationError

from api import errors
from api.accesslog import route_template
from api.app_keys import METRICS
from api.responses import ErrorEnvelope, reply
from domain.errors import DomainError

logger = logging.getLogger(__name__)


def route_label(request: web.Request) -> str:
    """The route template (not the raw path: bounded label values), slash-insensitive."""
    template = route_template(request)
    if template is None:
        return "unmatched"
    return template.rstrip("/") or "/"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every answered request by route, method and status, with its latency."""
    started = time.perf_counter()
    status: int | None = None  # stays None when the request is cancelled
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like pass through as exceptions
        status = exc.status
        raise
    finally:
        if status is not None:
            elapsed = time.perf_counter() - started
            metrics = request.app[METRICS]
            metrics.observe_request(route_label(request), request.method, status, elapsed)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain, validation and HTTP errors to the JSON envelope; anything else is a 500."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = reply(errors.http_error(exc, request))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except DomainError as exc:
        return reply(errors.domain_error(exc))
    except errors.BadBody as exc:
        return reply(errors.validation_error(exc.error, exc.commands))
    except ValidationError as exc:
        return reply(errors.validation_error(exc))
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, route_label(request))
        return reply(ErrorEnvelope(status=500, details="internal error; it has been logged"))


def body_timeout_middleware(seconds: float) -> Middleware:
    """Read a request's body within ``seconds`` before its view runs; a slower client gets 408.

    aiohttp waits for a body as long as the client keeps the connection open.
    """

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # kept by aiohttp for the view
            except TimeoutError:
                details = f"the request body did not arrive within {seconds:g} s"
                response = reply(ErrorEnvelope(status=408, details=details))
                response.force_close()
                return response
        return await handler(request)

    return read_body
