"""The emulator as an aiohttp application: prefix filter, routing, body parsing and faults."""

import hmac
import json
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from vpn.emulator.checks import ApiError
from vpn.emulator.faults import Fault
from vpn.emulator.routes import Call, Handler, resolve
from vpn.emulator.state import OutlineEmulator

_FAULT_CODES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 503: "ServiceUnavailable"}


def error_response(status: int, code: str, message: str) -> web.Response:
    """Restify's error body ``{"code", "message"}``."""
    return web.json_response({"code": code, "message": message}, status=status)


def _reply(status: int, body: Any) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.json_response(body, status=status)


async def read_params(request: web.Request) -> dict[str, Any]:
    """The JSON body as params; ignored unless the request says ``application/json``."""
    raw = await request.read()
    ctype = request.content_type
    if not raw.strip() or not (ctype == "application/json" or ctype.endswith("+json")):
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "InvalidContent", f"Invalid JSON: {exc}") from None
    return data if isinstance(data, dict) else {}


def _starts_with(path: str, prefix: str) -> bool:
    """Constant-time prefix check, as shadowbox does before routing."""
    head = path[: len(prefix)].encode()
    return hmac.compare_digest(head, prefix.encode())


def build_app(emulator: OutlineEmulator, prefix: str) -> web.Application:
    """An app answering the management API under ``prefix`` (``/<secret>``)."""
    prefix = "/" + prefix.strip("/")

    async def handle(request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        if not _starts_with(raw_path, prefix + "/"):
            return error_response(404, "ResourceNotFound", f"{raw_path} does not exist")
        path = raw_path[len(prefix) :]
        emulator.calls.append((request.method, path))
        try:
            route = resolve(emulator, request.method, path)
            if route is None:
                return error_response(404, "ResourceNotFound", f"{raw_path} does not exist")
            handler, key_id = route
            call = Call(
                await read_params(request),
                None if key_id is None else unquote(key_id),
                request.query,
            )
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
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
        response = error_response(exc.status, exc.code, exc.message)
    if fault is not None and fault.kind == "drop" and request.transport is not None:
        request.transport.abort()
    return response
