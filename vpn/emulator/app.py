"""The emulator as an aiohttp application: path clean-up, prefix filter, routing, restify's
body mapping and faults."""

import hmac
import json
import re
from typing import Any
from urllib.parse import unquote

import orjson
from aiohttp import web

from vpn.emulator import checks, js
from vpn.emulator.checks import ApiError
from vpn.emulator.faults import Fault
from vpn.emulator.routes import Call, Handler, MethodNotAllowed, Redirect, resolve
from vpn.emulator.state import OutlineEmulator

_FAULT_CODES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 503: "ServiceUnavailable"}
_JSON_TYPE = re.compile(r"^application/[a-zA-Z.]+\+json")


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """Restify's error body ``{"code", "message"}``."""
    return _json_response({"code": code, "message": message}, status, headers)


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``body`` as JSON, compact and UTF-8 as Node's ``JSON.stringify`` writes it; what
    orjson refuses (a lone surrogate, an integer past 64 bits) the standard encoder writes."""
    try:
        data = orjson.dumps(body)
    except orjson.JSONEncodeError:
        data = json.dumps(body, separators=(",", ":")).encode()
    return web.Response(
        body=data, status=status, headers=headers, content_type="application/json", charset="utf-8"
    )


def _api_error(exc: ApiError) -> web.Response:
    allow = {"Allow": exc.allow} if isinstance(exc, MethodNotAllowed) else None
    return error_response(exc.status, exc.code, exc.message, allow)


def _reply(status: int, body: Any) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return _json_response(body, status)


def sanitize(path: str) -> str:
    """restify's ``sanitizePath``: no repeated and no trailing slashes."""
    path = re.sub("/{2,}", "/", path)
    return path.rstrip("/") or "/"


async def read_params(request: web.Request, key_id: str | None) -> dict[str, Any]:
    """``req.params`` as restify's ``bodyParser({mapParams: true})`` leaves it.

    The body counts only as ``application/json`` (or ``…+json``). An object is merged onto
    the path's ``id``, which it cannot replace; an array is a 500 on a path with an id; any
    other truthy value replaces the params (so the id is lost).
    """
    params: dict[str, Any] = {} if key_id is None else {"id": unquote(key_id)}
    raw = await request.read()
    ctype = request.content_type
    if not raw or not (ctype == "application/json" or _JSON_TYPE.match(ctype)):
        return params
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidContent", f"Invalid JSON: {exc}") from None
    if isinstance(data, list):
        if params:
            raise checks.internal("Cannot map POST body of [Array array] onto req.params")
        return {}
    if isinstance(data, dict):
        return {**data, **{k: v for k, v in params.items() if not js.falsy(v)}}
    return params if js.falsy(data) else {}


def _starts_with(path: str, prefix: str) -> bool:
    """Constant-time prefix check, as shadowbox does before routing."""
    head = path[: len(prefix)].encode()
    return hmac.compare_digest(head, prefix.encode()) and len(path) >= len(prefix)


def build_app(emulator: OutlineEmulator, prefix: str) -> web.Application:
    """An app answering the management API under ``prefix`` (``/<secret>``)."""
    prefix = "/" + prefix.strip("/")

    async def handle(request: web.Request) -> web.StreamResponse:
        raw_path = sanitize(request.rel_url.raw_path)
        if not _starts_with(raw_path, prefix):
            return error_response(404, "ResourceNotFound", f"{raw_path} does not exist")
        path = raw_path[len(prefix) :]
        emulator.calls.append((request.method, path))
        try:
            route = resolve(emulator, request.method, path)
            if route is None:
                return error_response(404, "ResourceNotFound", f"{raw_path} does not exist")
            handler, key_id = route
            call = Call(await read_params(request, key_id), request.query)
        except ApiError as exc:
            return _api_error(exc)
        if isinstance(handler, Redirect):
            location = {"Location": prefix + handler.target}
            return _json_response(None, 308, location)
        fault = emulator.faults.take(request.method, path)
        return await _serve(emulator, request, handler, call, fault)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


async def _serve(
    emulator: OutlineEmulator,
    request: web.Request,
    handler: Handler,
    call: Call,
    fault: Fault | None,
) -> web.StreamResponse:
    """Run the handler, misbehaving first as ``fault`` says."""
    if fault is not None and fault.kind == "fail":
        code = _FAULT_CODES.get(fault.status, "InternalServer")
        return error_response(fault.status, code, "injected failure")
    if fault is not None and fault.kind in ("hang", "hang_before"):
        await emulator.faults.pause(fault.seconds)
        if fault.kind == "hang_before":
            return error_response(503, "ServiceUnavailable", "injected hang")
    try:
        response = _reply(*handler(emulator, call))
    except ApiError as exc:
        response = _api_error(exc)
    except checks.JsTypeError as exc:  # thrown, not caught by shadowbox: restify's own 500
        response = error_response(500, "Internal", f"TypeError: {exc}")
    if fault is not None and fault.kind == "drop" and request.transport is not None:
        request.transport.abort()
    return response
