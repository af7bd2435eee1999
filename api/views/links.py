"""``GET /conf/{secret}``: the dynamic link the Outline app fetches (no API token).

Answers Outline's legacy JSON config, or its ``{"error": {"message", "details"}}`` object,
which the app shows to the user. The route template hides the secret in every log line.
"""

import logging
from dataclasses import asdict
from typing import Any

from aiohttp import web

from api import link_texts
from api.accesslog import LINK_ROUTE, HideLinkSecrets
from api.app_keys import CONTEXT, LINK_LIMITER, SETTINGS
from api.ratelimit import client_address
from domain.accounts.users import LANGUAGES
from domain.errors import NotFound
from domain.links.answers import KeyRefused, answer_link

HEADERS = {"Cache-Control": "no-store"}


def _json(status: int, body: dict[str, Any], **headers: str) -> web.Response:
    return web.json_response(body, status=status, headers={**HEADERS, **headers})


def _error(message: str, details: str) -> dict[str, Any]:
    return {"error": {"message": message, "details": details}}


def _language(request: web.Request) -> str:
    wanted = request.headers.get("Accept-Language", "")[:2].lower()
    return wanted if wanted in LANGUAGES else LANGUAGES[0]


async def get_link(request: web.Request) -> web.Response:
    """The key's current config, the reason it does not work, 404, or 429."""
    settings = request.app[SETTINGS]
    address = client_address(request, settings.trusted_proxies)
    if not await request.app[LINK_LIMITER].hit(address):
        body = _error(*link_texts.too_many_text(_language(request)))
        return _json(429, body, **{"Retry-After": "60"})
    try:
        answer = await answer_link(request.app[CONTEXT], request.match_info["secret"])
    except NotFound:
        return _json(404, _error(*link_texts.unknown_text(_language(request))))
    if isinstance(answer, KeyRefused):
        return _json(200, _error(*link_texts.refusal_text(answer, settings.bot_username)))
    return _json(200, asdict(answer))


def setup_link_routes(app: web.Application) -> None:
    """Serve the links (only installations with ``PUBLIC_URL`` have any)."""
    app.router.add_get(LINK_ROUTE, get_link)
    access = logging.getLogger("aiohttp.access")
    if not any(isinstance(f, HideLinkSecrets) for f in access.filters):
        access.addFilter(HideLinkSecrets())
