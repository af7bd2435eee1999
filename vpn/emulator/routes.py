"""The management API's routes (relative to the secret prefix) mapped onto emulator state."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from multidict import MultiMapping

from vpn.emulator import checks, js
from vpn.emulator.checks import ApiError
from vpn.emulator.records import to_json
from vpn.emulator.state import OutlineEmulator


@dataclass(frozen=True)
class Call:
    """One decoded request: its params (body merged onto the path's ``id``) and query."""

    params: dict[str, Any]
    query: MultiMapping[str]


Reply = tuple[int, Any]
Handler = Callable[[OutlineEmulator, Call], Reply]


@dataclass(frozen=True)
class Redirect:
    """A former route answering 308 to ``target`` (below the prefix)."""

    target: str


class MethodNotAllowed(ApiError):
    """restify's 405, with the methods the path allows."""

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(405, "MethodNotAllowed", f"{method} is not allowed")
        self.allow = ", ".join(sorted(allowed))


def _key_id(call: Call) -> str:
    """shadowbox's ``validateAccessKeyId`` (a body that is a bare value loses the path's id)."""
    key_id = call.params.get("id", js.UNDEFINED)
    if js.falsy(key_id):
        raise checks.missing("id")
    if not isinstance(key_id, str):
        raise checks.invalid("Parameter `id` must be of type string")
    return key_id


def _done(_: object) -> Reply:
    return 204, None


def _list_keys(emu: OutlineEmulator, call: Call) -> Reply:
    return 200, {"accessKeys": [to_json(record) for record in emu.list_keys()]}


def _metrics(emu: OutlineEmulator, call: Call) -> Reply:
    # A repeated parameter reaches shadowbox as an array, which JavaScript prints joined.
    return 200, emu.server_metrics_json(",".join(call.query.getall("since", [])) or None)


_FORMER_LIMIT = Redirect("/server/access-key-data-limit")
_ROUTES: list[tuple[str, dict[str, Handler | Redirect]]] = [
    ("/server", {"GET": lambda e, c: (200, e.server_json())}),
    ("/name", {"PUT": lambda e, c: _done(e.rename_server(c.params))}),
    (
        "/server/hostname-for-access-keys",
        {"PUT": lambda e, c: _done(e.set_hostname(c.params))},
    ),
    (
        "/server/port-for-new-access-keys",
        {"PUT": lambda e, c: _done(e.set_port_for_new_keys(c.params))},
    ),
    (
        "/server/access-key-data-limit",
        {
            "PUT": lambda e, c: _done(e.set_default_limit(c.params)),
            "DELETE": lambda e, c: _done(e.remove_default_limit()),
        },
    ),
    (
        "/access-keys",
        {
            "GET": _list_keys,
            "POST": lambda e, c: (201, to_json(e.create_key(None, c.params))),
        },
    ),
    (
        "/access-keys/{id}",
        {
            "GET": lambda e, c: (200, to_json(e.key(_key_id(c)))),
            "PUT": lambda e, c: (201, to_json(e.create_key(_key_id(c), c.params))),
            "DELETE": lambda e, c: _done(e.delete_key(_key_id(c))),
        },
    ),
    ("/access-keys/{id}/name", {"PUT": lambda e, c: _done(e.rename_key(_key_id(c), c.params))}),
    (
        "/access-keys/{id}/data-limit",
        {
            "PUT": lambda e, c: _done(e.set_key_limit(_key_id(c), c.params)),
            "DELETE": lambda e, c: _done(e.remove_key_limit(_key_id(c))),
        },
    ),
    ("/metrics/transfer", {"GET": lambda e, c: (200, e.transfer_json())}),
    (
        "/metrics/enabled",
        {
            "GET": lambda e, c: (200, {"metricsEnabled": e.metrics_enabled}),
            "PUT": lambda e, c: _done(e.set_metrics_enabled(c.params)),
        },
    ),
    ("/experimental/server/metrics", {"GET": _metrics}),
    ("/experimental/access-key-data-limit", {"PUT": _FORMER_LIMIT, "DELETE": _FORMER_LIMIT}),
]
ROUTES = [
    (re.compile("^" + path.replace("{id}", "(?P<id>[^/]+)") + "/?$"), methods)
    for path, methods in _ROUTES
]


def resolve(
    emu: OutlineEmulator, method: str, path: str
) -> tuple[Handler | Redirect, str | None] | None:
    """The handler and raw ``{id}`` for a call, ``None`` for no route, or restify's 405."""
    for pattern, methods in ROUTES:
        match = pattern.match(path)
        if match is None or (path.startswith("/experimental/server") and not emu.experimental):
            continue
        handler = methods.get(method)
        if handler is None:
            raise MethodNotAllowed(method, list(methods))
        return handler, match.groupdict().get("id")
    return None
