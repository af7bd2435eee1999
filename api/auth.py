"""API token authentication, applied by the route table to every protected view."""

import functools

from aiohttp import web
from aiohttp.typedefs import Handler

from api.app_keys import ACTOR, TOKENS
from domain import audit
from domain.errors import Unauthorized

SCHEMES = ("bearer", "token")  # "Token" is what the original Django REST clients send


def token_from(header: str | None) -> str:
    """The plaintext token of an ``Authorization: Bearer|Token <token>`` header."""
    if not header:
        raise Unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    # Tokens are ASCII by construction; anything else cannot match (nor be hashed as given).
    if scheme.lower() not in SCHEMES or not value or not value.isascii():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return value


def require_token(view: Handler) -> Handler:
    """Wrap ``view`` so it runs only for a live token, with the token's audit actor set."""

    @functools.wraps(view)
    async def guarded(request: web.Request) -> web.StreamResponse:
        plaintext = token_from(request.headers.get("Authorization"))
        token = await request.app[TOKENS].authenticate(plaintext)
        request[ACTOR] = audit.api_actor(token.name)
        return await view(request)

    return guarded
