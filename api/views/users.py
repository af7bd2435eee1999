"""``api/user/…``: register or update a user, read a user and their keys."""

from aiohttp import web

from api.app_keys import ACTOR, CONTEXT
from api.parsing import json_body, path_params
from api.responses import keys_reply, user_reply
from api.schemas import UserBody, UserPath, UserServerPath
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.keys import issuing


async def post_user(request: web.Request) -> web.Response:
    """#1 Create the user or update their profile (same call as the bot's /start)."""
    user = (await json_body(request, UserBody)).user
    profile = UserProfile(
        id=user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )
    saved = await users.upsert_user(profile, actor=request[ACTOR])
    return user_reply(saved, "create or update user successful")


async def get_user(request: web.Request) -> web.Response:
    """#2 One user."""
    path = path_params(request, UserPath)
    user = await users.user_row(path.tg_id)
    return user_reply(user, f"user {path.tg_id}")


async def get_user_keys(request: web.Request) -> web.Response:
    """#3 A user's live keys on one server."""
    path = path_params(request, UserServerPath)
    links = request.app[CONTEXT].links
    found = await issuing.user_key_rows(path.tg_id, path.srv_name, links=links)
    details = f"{len(found)} key(s) of user {path.tg_id} on server '{path.srv_name}'"
    return keys_reply(found, details)
