"""Parameter checks of the emulated server, with Outline's error codes and statuses."""

import re
from typing import Any

CIPHERS = ("chacha20-ietf-poly1305", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm")
_HOSTNAME = re.compile(
    r"^([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$"
)
_IPV6 = re.compile(r"^[0-9a-fA-F:.]+$")
_SINCE = re.compile(r"^(\d+)([shdw])$")
_UNIT_SECONDS = {"s": 1, "h": 3600, "d": 86400, "w": 7 * 86400}


class ApiError(Exception):
    """An error answer: HTTP status and the JSON ``{"code", "message"}`` restify sends."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def missing(name: str) -> ApiError:
    """400 ``MissingParameter`` for ``name``."""
    return ApiError(400, "MissingParameter", f"Parameter `{name}` is missing")


def invalid(message: str, status: int = 400) -> ApiError:
    """``InvalidArgument`` (restify's default status for it is 409, Outline mostly sets 400)."""
    return ApiError(status, "InvalidArgument", message)


def falsy(value: Any) -> bool:
    """JavaScript falsiness for decoded JSON (``{}`` and ``[]`` are truthy there)."""
    return value is None or value is False or value == "" or (is_number(value) and value == 0)


def is_number(value: Any) -> bool:
    """JavaScript ``typeof value === 'number'`` for decoded JSON."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """JavaScript ``Number.isInteger`` for decoded JSON."""
    return is_number(value) and float(value).is_integer()


def data_limit(limit: Any) -> int:
    """The bytes of a ``{"bytes": n}`` limit (Outline's ``validateDataLimit``)."""
    if falsy(limit):
        raise ApiError(400, "MissingParameter", "Missing `limit` parameter")
    bytes_ = limit.get("bytes") if isinstance(limit, dict) else None
    if not (is_integer(bytes_) and bytes_ >= 0):
        raise invalid("`limit.bytes` must be an non-negative integer")
    return int(bytes_)


def port_number(port: Any) -> int:
    """A TCP port 1..65535."""
    if not is_integer(port) or not 1 <= port <= 65535:
        raise invalid(f"Invalid port number {port}")
    return int(port)


def hostname(value: Any) -> str:
    """A hostname or IP address for access keys."""
    if value is None:
        raise ApiError(400, "MissingParameter", "hostname must be provided")
    if not isinstance(value, str):
        raise invalid(f"Expected hostname to be a string, instead got {value!r}")
    if not (_HOSTNAME.match(value) or (":" in value and _IPV6.match(value))):
        raise invalid(f"Hostname {value} isn't a valid hostname or IP address")
    return value


def since_seconds(value: str | None) -> int:
    """The ``since`` query of the experimental metrics (``30s``, ``1h``, ``7d``, ``2w``)."""
    if not value:
        raise missing("since")
    match = _SINCE.match(value)
    if match is None:
        raise invalid(f"Invalid `since` parameter: {value}")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def js_parse_int(text: str) -> int | None:
    """JavaScript ``parseInt(text)``: the leading integer, or ``None`` for NaN."""
    match = re.match(r"\s*([+-]?)(0[xX])?([0-9a-fA-F]*)", text)
    assert match is not None
    sign, hex_prefix, digits = match.groups()
    if not hex_prefix:
        digits = re.match(r"\d*", digits)[0]  # type: ignore[index]
    if not digits:
        return None
    value = int(digits, 16 if hex_prefix else 10)
    return -value if sign == "-" else value
