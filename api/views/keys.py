"""``api/vpn_token/…`` (POST and the owner PATCH): issue, refresh and bind keys."""

from aiohttp import web

from api.app_keys import ACTOR, CONTEXT
from api.parsing import json_body, path_params
from api.responses import keys_reply
from api.schemas import (
    Bind,
    BindPath,
    CreateDemo,
    CreateKey,
    DemoPath,
    Refresh,
    RefreshPath,
    ServerPath,
    valid_until_of,
)
from domain.keys import issuing


async def post_demo_key(request: web.Request) -> web.Response:
    """#4 The user's one demo key (``create_demo_token``)."""
    path = path_params(request, DemoPath)
    await json_body(request, CreateDemo)
    key = await issuing.create_demo_key(
        request.app[CONTEXT], tg_id=path.tg_id, server=path.srv_name, actor=request[ACTOR]
    )
    return keys_reply(
        [key],
        f"demo key {key.id} created for user {path.tg_id}",
        status=201,
        links=request.app[CONTEXT].links,
    )


async def post_refresh(request: web.Request) -> web.Response:
    """#5 A new key in place of a leaked one (``refresh_token``)."""
    path = path_params(request, RefreshPath)
    await json_body(request, Refresh)
    key = await issuing.refresh_key(
        request.app[CONTEXT], key_id=path.token_id, server=path.srv_name, actor=request[ACTOR]
    )
    return keys_reply(
        [key],
        f"key {path.token_id} replaced by key {key.id}",
        status=201,
        links=request.app[CONTEXT].links,
    )


async def post_key(request: web.Request) -> web.Response:
    """#6 A new (paid) key (``create_new_token``)."""
    path = path_params(request, ServerPath)
    body = await json_body(request, CreateKey)
    key = await issuing.create_key(
        request.app[CONTEXT],
        server=path.srv_name,
        actor=request[ACTOR],
        tg_id=body.tg_id,
        name=body.name,
        valid_until=valid_until_of(body),
        days=body.days,
        traffic_limit=body.traffic_limit,
    )
    return keys_reply(
        [key],
        f"key {key.id} created on server '{key.server.name}'",
        status=201,
        links=request.app[CONTEXT].links,
    )


async def patch_key_owner(request: web.Request) -> web.Response:
    """#7 Bind a key to a user (``add_user_to_token``; ``force`` takes it from another)."""
    path = path_params(request, BindPath)
    body = await json_body(request, Bind)
    key = await issuing.bind_key(
        key_id=path.token_id,
        server=path.srv_name,
        tg_id=path.tg_id,
        force=body.force,
        actor=request[ACTOR],
    )
    return keys_reply(
        [key], f"key {key.id} bound to user {path.tg_id}", links=request.app[CONTEXT].links
    )
