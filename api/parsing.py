"""Reading validated path parameters and JSON bodies from a request."""

from typing import Literal, TypeVar, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, RootModel, ValidationError

from api.errors import BadBody

M = TypeVar("M", bound=BaseModel)


def commands_of(model: type[BaseModel]) -> tuple[str, ...]:
    """The ``command`` values a body model (or a union of them) accepts."""
    if issubclass(model, RootModel):
        members = get_args(model.model_fields["root"].annotation)
        return tuple(c for member in members for c in commands_of(member))
    field = model.model_fields.get("command")
    if field is None or get_origin(field.annotation) is not Literal:
        return ()
    return tuple(str(value) for value in get_args(field.annotation))


def path_params(request: web.Request, model: type[M]) -> M:
    """The path parameters, range-checked (``ValidationError`` → 400)."""
    return model.model_validate(dict(request.match_info), strict=False)


def query_params(request: web.Request, model: type[M]) -> M:
    """The query string, range-checked (``ValidationError`` → 400); unknown names refused."""
    return model.model_validate(dict(request.query), strict=False)


async def json_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated strictly against ``model`` (``BadBody`` → 400)."""
    raw = await request.read()
    try:
        # An empty body reads as {} so that the errors name the missing fields.
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as exc:
        raise BadBody(exc, commands_of(model)) from None
