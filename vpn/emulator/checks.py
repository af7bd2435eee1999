"""Parameter checks of the emulated server, as shadowbox's JavaScript makes them.

Decoded JSON is judged with JavaScript's rules (``typeof``, truthiness, ``Number()``); an
absent field is ``UNDEFINED``, which is not the same as JSON ``null``.
"""

import math
import re
from dataclasses import dataclass
from typing import Any

from vpn.emulator.js import (
    UNDEFINED,
    falsy,
    is_integer,
    is_number,
    js_number,
    js_str,
    js_type,
)
from vpn.emulator.js import js_parse_int as js_parse_int  # the metrics name keys with it

CIPHERS = ("chacha20-ietf-poly1305", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm")
_HOSTNAME = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$"
)
_UNIT_SECONDS = {"s": 1, "h": 3600, "d": 86400, "w": 7 * 86400}
# Prometheus refuses a range query of more than 11,000 steps; shadowbox steps by 300 s.
_MAX_RANGE_STEPS, _RANGE_STEP_SECONDS = 11_000, 300


class ApiError(Exception):
    """An error answer: HTTP status and the JSON ``{"code", "message"}`` restify sends."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class JsTypeError(Exception):
    """What shadowbox throws when it reads a property of ``null`` (a 500 of some kind)."""


def missing(name: str) -> ApiError:
    """400 ``MissingParameter`` for ``name``."""
    return ApiError(400, "MissingParameter", f"Parameter `{name}` is missing")


def invalid(message: str, status: int = 400) -> ApiError:
    """``InvalidArgument`` (restify's default status for it is 409, Outline mostly sets 400)."""
    return ApiError(status, "InvalidArgument", message)


def internal(message: str = "") -> ApiError:
    """500 ``InternalServer``, what shadowbox answers for an error it did not expect."""
    return ApiError(500, "InternalServer", message)


def string_param(value: Any, name: str) -> str | None:
    """shadowbox's ``validateStringParam``: absent is ``None``, anything else a string."""
    if value is UNDEFINED:
        return None
    if not isinstance(value, str):
        raise invalid(
            f"Expected a string for {name}, instead got {js_str(value)} of type {js_type(value)}"
        )
    return value


def number_param(value: Any, name: str) -> int | float | None:
    """shadowbox's ``validateNumberParam``: absent is ``None``, anything else a number."""
    if value is UNDEFINED:
        return None
    if not is_number(value):
        raise invalid(
            f"Expected a number for {name}, instead got {js_str(value)} of type {js_type(value)}"
        )
    return value


def data_limit(limit: Any) -> int | None:
    """The bytes of a ``{"bytes": n}`` limit, ``None`` when absent (``validateDataLimit``)."""
    if limit is UNDEFINED:
        return None
    if limit is None:
        raise JsTypeError("Cannot read properties of null (reading 'bytes')")
    bytes_ = limit.get("bytes") if isinstance(limit, dict) else None
    if not (is_integer(bytes_) and bytes_ >= 0):
        raise invalid("`limit.bytes` must be an non-negative integer")
    return int(bytes_)


@dataclass(frozen=True, slots=True)
class KeyParams:
    """The parameters of a key creation once their types are checked (``None``: not given)."""

    method: str
    name: str
    limit: int | None
    password: str | None
    port: int | float | None

    @classmethod
    def parse(cls, params: dict[str, Any]) -> "KeyParams":
        """Check types in shadowbox's order; a ``null`` limit is its 500."""

        def given(field: str) -> Any:
            value = params.get(field, UNDEFINED)
            return "" if falsy(value) else value  # JavaScript's ``params.field || ''``

        method = string_param(given("method"), "encryptionMethod") or ""
        name = string_param(given("name"), "name") or ""
        try:
            limit = data_limit(params.get("limit", UNDEFINED))
        except JsTypeError:
            raise internal() from None
        password = string_param(params.get("password", UNDEFINED), "password")
        port = number_param(params.get("port", UNDEFINED), "port")
        return cls(method, name, limit, password, port)


def port_number(port: int | float) -> int:
    """A TCP port 1..65535 (shadowbox's ``isValidPort``)."""
    if not is_integer(port) or not 0 < port <= 65535:
        raise invalid(f"Port {js_str(port)} is invalid: must be an integer in range [0, 65353]")
    return int(port)


def hostname(value: Any) -> str:
    """A hostname, or any text holding an IP address between blanks (ip-regex's test)."""
    if value is UNDEFINED:
        raise ApiError(400, "MissingParameter", "hostname must be provided")
    if not isinstance(value, str):
        raise invalid(
            f"Expected hostname to be a string, instead got {js_str(value)} "
            f"of type {js_type(value)}"
        )
    if not (_HOSTNAME.match(value) or _IP_IN_TEXT.search(value)):
        raise invalid(f"Hostname {value} isn't a valid hostname or IP address")
    return value


def since_seconds(value: str | None) -> float:
    """The ``since`` query of the experimental metrics in seconds (``30s``, ``1.5h``, ``2w``).

    A value that parses but that Prometheus refuses as a range (zero, negative, fractional,
    too many steps) is the 500 shadowbox answers when its query fails.
    """
    if not value:
        raise missing("since")
    seconds = js_number(value[:-1]) * _UNIT_SECONDS.get(value[-1:], math.nan)
    if math.isnan(seconds):
        raise invalid(f"Invalid time range: {value}")
    if not (is_integer(seconds) and 0 < seconds < (_MAX_RANGE_STEPS + 1) * _RANGE_STEP_SECONDS):
        raise internal()
    return seconds


# ip-regex 4.3 with ``includeBoundaries``, as shadowbox tests a hostname (a search, not a match).
_WORD = r"[a-fA-F0-9:]"
_EDGE = rf"(?:(?:(?<=\s)|^)(?={_WORD})|(?<={_WORD})(?=\s|$))"
_V4 = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])){3}"  # noqa: E501
_SEG = r"[a-fA-F0-9]{1,4}"
_V6 = (
    rf"(?:(?:{_SEG}:){{7}}(?:{_SEG}|:)|"
    rf"(?:{_SEG}:){{6}}(?:{_V4}|:{_SEG}|:)|"
    rf"(?:{_SEG}:){{5}}(?::{_V4}|(?::{_SEG}){{1,2}}|:)|"
    rf"(?:{_SEG}:){{4}}(?:(?::{_SEG}){{0,1}}:{_V4}|(?::{_SEG}){{1,3}}|:)|"
    rf"(?:{_SEG}:){{3}}(?:(?::{_SEG}){{0,2}}:{_V4}|(?::{_SEG}){{1,4}}|:)|"
    rf"(?:{_SEG}:){{2}}(?:(?::{_SEG}){{0,3}}:{_V4}|(?::{_SEG}){{1,5}}|:)|"
    rf"(?:{_SEG}:){{1}}(?:(?::{_SEG}){{0,4}}:{_V4}|(?::{_SEG}){{1,6}}|:)|"
    rf"(?::(?:(?::{_SEG}){{0,5}}:{_V4}|(?::{_SEG}){{1,7}}|:)))(?:%[0-9a-zA-Z]{{1,}})?"
)
_IP_IN_TEXT = re.compile(rf"(?:{_EDGE}{_V4}{_EDGE})|(?:{_EDGE}{_V6}{_EDGE})")
