"""The configuration reference (``docs/configuration.md``), generated from ``Settings``.

Regenerate it with ``.venv/bin/python -m domain.operations.reference > docs/configuration.md``;
a test fails when the file is stale or a setting has no description.
"""

import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from domain.settings import Settings

HEADER = """# Configuration reference

Every setting of the service, read from the environment or from a `.env` file in the working
directory (environment variables win). Names are case-insensitive. Secrets are never logged.
Generated from `domain/settings.py` by `.venv/bin/python -m domain.operations.reference`;
do not edit by hand.

| variable | type | default | meaning |
|---|---|---|---|
"""
BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def missing_descriptions() -> list[str]:
    """The settings that carry no ``description``."""
    return [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]


def _type_name(annotation: Any) -> str:
    if get_origin(annotation) in (Union, types.UnionType):
        names = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(names)
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in get_args(annotation))
    if annotation is SecretStr:
        return "secret"
    if get_origin(annotation) in (frozenset, set, list, tuple):
        return f"list of {_type_name(get_args(annotation)[0])}"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or value == frozenset() or value == "":
        return "—"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    found = [
        f"{sign} {getattr(meta, name)}"
        for meta in field.metadata
        for name, sign in BOUNDS.items()
        if isinstance(meta, annotated_types.BaseMetadata) and hasattr(meta, name)
    ]
    return f" ({', '.join(found)})" if found else ""


def configuration_reference() -> str:
    """The whole Markdown document."""
    rows = [
        f"| `{name.upper()}` | {_type_name(field.annotation)}{_bounds(field)} "
        f"| {_default(field)} | {field.description} |"
        for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(configuration_reference(), end="")
