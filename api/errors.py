"""Turning errors into the JSON envelope: domain errors, validation errors, HTTP errors."""

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from api.responses import ErrorEnvelope, FieldError
from domain.errors import (
    Conflict,
    DomainError,
    Invalid,
    NotFound,
    ServerTimeout,
    ServerUnavailable,
    Unauthorized,
)

# Most specific first: ServerTimeout is a ServerUnavailable.
DOMAIN_STATUS: list[tuple[type[DomainError], int]] = [
    (Invalid, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (ServerTimeout, 504),
    (ServerUnavailable, 502),
]
_COMMAND_ERRORS = {"union_tag_not_found", "union_tag_invalid", "literal_error", "missing"}


def domain_error(exc: DomainError) -> ErrorEnvelope:
    """The envelope of a domain error (its message is safe to show by contract)."""
    status = next((code for cls, code in DOMAIN_STATUS if isinstance(exc, cls)), 400)
    errors = None
    if status == 400:
        field = exc.params.get("field")
        errors = [FieldError(field=str(field) if field else "", message=exc.message)]
    return ErrorEnvelope(status=status, details=exc.message, errors=errors)


def _field(error: ErrorDetails, commands: tuple[str, ...]) -> str:
    loc = error["loc"]
    if loc and loc[0] in commands:  # a discriminated union puts the tag first
        loc = loc[1:]
    return ".".join(str(part) for part in loc)


class BadBody(Exception):
    """A request body failed validation; ``commands`` are the values its ``command`` allows."""

    def __init__(self, error: ValidationError, commands: tuple[str, ...]) -> None:
        super().__init__(str(error))
        self.error = error
        self.commands = commands


def _is_command_error(error: ErrorDetails) -> bool:
    if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        return True
    return error["loc"] == ("command",) and error["type"] in _COMMAND_ERRORS


def validation_error(exc: ValidationError, commands: tuple[str, ...] = ()) -> ErrorEnvelope:
    """A 400 listing every rejected field; a bad ``command`` names the allowed ones."""
    raw = exc.errors(include_url=False, include_input=False)
    if any(error["type"] == "json_invalid" for error in raw):
        message = "request body is not valid JSON"
        errors = [FieldError(field="", message=message)]
        return ErrorEnvelope(status=400, details=message, errors=errors)
    if commands and any(_is_command_error(error) for error in raw):
        details = f"missing or unknown command; allowed: {', '.join(commands)}"
        errors = [FieldError(field="command", message=details)]
        return ErrorEnvelope(status=400, details=details, errors=errors)
    errors = [FieldError(field=_field(e, commands), message=e["msg"]) for e in raw]
    where = errors[0].field or "body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    details = f"invalid request: {where}: {errors[0].message}{more}"
    return ErrorEnvelope(status=400, details=details, errors=errors)


def http_error(exc: web.HTTPException, request: web.Request) -> ErrorEnvelope:
    """The envelope of aiohttp's own 4xx/5xx (unknown path, wrong method, body too large)."""
    if isinstance(exc, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(exc.allowed_methods))
        details = f"method {request.method} is not allowed here; allowed: {allowed}"
    elif isinstance(exc, web.HTTPNotFound):
        details = f"no such endpoint: {request.method} {request.path}"
    else:
        details = exc.reason
    return ErrorEnvelope(status=exc.status, details=details)
