"""``PATCH|DELETE api/vpn_token/{token_id}/{srv_name}/``: change or delete one key."""

from aiohttp import web

from api.app_keys import ACTOR, CONTEXT
from api.parsing import json_body, path_params
from api.responses import Envelope, keys_reply, reply
from api.schemas import (
    KeyChange,
    KeyPath,
    Rename,
    SetActive,
    SetServer,
    SetTrafficLimit,
    SetTrafficReset,
    SetValidDate,
    valid_until_of,
)
from db.models import TrafficReset, VPNKey
from domain.keys import changes, moves
from domain.traffic import periods


def _expiry(key: VPNKey) -> str:
    if key.valid_until is None:
        return "has no expiry"
    return f"is valid until {key.valid_until.isoformat().replace('+00:00', 'Z')}"


def _activity(key: VPNKey) -> str:
    if key.is_active:
        return "active"
    return f"inactive ({key.inactive_reason})" if key.inactive_reason else "inactive"


async def patch_key(request: web.Request) -> web.Response:
    """#8-11 One change named by ``command``: expiry, activity, name, limit, server or reset."""
    path = path_params(request, KeyPath)
    change = (await json_body(request, KeyChange)).root
    ctx = request.app[CONTEXT]
    target = {"key_id": path.token_id, "server": path.srv_name, "actor": request[ACTOR]}
    match change:
        case SetValidDate() if "days" in change.model_fields_set:
            key = await changes.extend_key(ctx, days=change.days, **target)
            details = f"key {key.id} {_expiry(key)}"
        case SetValidDate():
            valid_until = valid_until_of(change)
            key = await changes.set_valid_until(ctx, valid_until=valid_until, **target)
            details = f"key {key.id} {_expiry(key)}"
        case SetActive():
            key = await changes.set_active(ctx, is_active=change.is_active, **target)
            details = f"key {key.id} is {_activity(key)}"
        case Rename():
            key = await changes.rename_key(ctx, name=change.name, **target)
            details = f"key {key.id} renamed"
        case SetTrafficLimit():
            limit = change.traffic_limit
            key = await changes.set_traffic_limit(ctx, traffic_limit=limit, **target)
            details = f"key {key.id} traffic limit {'removed' if limit is None else 'set'}"
        case SetServer():
            key = await moves.move_key(ctx, target=change.server, **target)
            details = f"key {key.id} moved to server '{key.server.name}'"
        case SetTrafficReset():
            strategy = change.reset or TrafficReset.NO_RESET.value
            key = await periods.set_traffic_reset(ctx, strategy=strategy, **target)
            details = f"key {key.id} traffic reset: {change.reset or 'never'}"
    return keys_reply([key], details, links=request.app[CONTEXT].links)


async def delete_key(request: web.Request) -> web.Response:
    """#12 Delete a key on its server; the row stays as history."""
    path = path_params(request, KeyPath)
    key = await changes.delete_key(
        request.app[CONTEXT], key_id=path.token_id, server=path.srv_name, actor=request[ACTOR]
    )
    return reply(Envelope(status=200, details=f"key {key.id} deleted"))
