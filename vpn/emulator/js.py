"""JavaScript's view of decoded JSON, which shadowbox's checks depend on: ``typeof``,
truthiness, ``String()``, ``Number()``, ``parseInt()`` and string length."""

import math
import re
from typing import Any, Final


class _Undefined:
    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()


def falsy(value: Any) -> bool:
    """JavaScript falsiness for decoded JSON (``{}`` and ``[]`` are truthy there)."""
    return value in (UNDEFINED, None, False, "") or (is_number(value) and value == 0)


def is_number(value: Any) -> bool:
    """JavaScript ``typeof value === 'number'`` for decoded JSON."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_integer(value: Any) -> bool:
    """JavaScript ``Number.isInteger`` for decoded JSON."""
    return is_number(value) and math.isfinite(value) and float(value).is_integer()


def js_type(value: Any) -> str:
    """JavaScript ``typeof`` of a decoded JSON value."""
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    return "string" if isinstance(value, str) else "object"


def js_str(value: Any) -> str:
    """JavaScript ``String(value)``, as error messages print values."""
    if value is None or value is UNDEFINED or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}.get(value, "undefined")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join("" if v is None else js_str(v) for v in value)
    return "[object Object]" if isinstance(value, dict) else str(value)


def utf16_length(text: str) -> int:
    """JavaScript ``text.length`` (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def js_number(text: str) -> float:
    """JavaScript ``Number(text)`` (``NaN`` when it is not a number)."""
    text = text.strip()
    if not text:
        return 0.0
    if _JS_RADIX.fullmatch(text):
        return float(int(text[2:], {"x": 16, "o": 8, "b": 2}[text[1].lower()]))
    if _JS_DECIMAL.fullmatch(text):
        return float(text)
    return math.nan


def js_parse_int(text: str) -> int | None:
    """JavaScript ``parseInt(text)``: the leading integer, or ``None`` for NaN."""
    if text.isascii() and text.isdigit():  # the common case: a plain decimal id
        return int(text)
    match = re.match(r"\s*([+-]?)(0[xX])?([0-9a-fA-F]*)", text)
    assert match is not None
    sign, hex_prefix, digits = match.groups()
    if not hex_prefix:
        digits = re.match(r"[0-9]*", digits)[0]  # type: ignore[index]
    if not digits:
        return None
    value = int(digits, 16 if hex_prefix else 10)
    return -value if sign == "-" else value


_JS_RADIX = re.compile(r"0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+")
_JS_DECIMAL = re.compile(r"[+-]?(Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?)")
