"""The bot and the API are two transports over one domain: neither imports the other."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module the code of ``module`` imports, at any depth, relative ones resolved;
    ``from a import b`` counts as ``a`` and ``a.b`` (``b`` may be a module)."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            name = ".".join([*base, *filter(None, [node.module])])
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return found


def offending(package: str, forbidden: str) -> list[str]:
    """``file: module`` for every import of ``forbidden`` by a module of ``package``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        for name in imports(path.read_text(encoding="utf-8"), module, is_package=is_package):
            if name == forbidden or name.startswith(f"{forbidden}."):
                found.append(f"{path.relative_to(ROOT)}: {name}")
    return sorted(found)


@pytest.mark.parametrize(("package", "forbidden"), [("bot", "api"), ("api", "bot")])
def test_one_transport_never_imports_the_other(package: str, forbidden: str) -> None:
    assert list((ROOT / package).rglob("*.py")), f"no modules under {package}/"
    assert offending(package, forbidden) == []


def test_the_check_sees_absolute_relative_and_nested_imports() -> None:
    nested = (
        "import api.app_keys\nfrom api import setup\ndef late():\n    from api.views import k\n"
    )
    assert {"api.app_keys", "api", "api.setup", "api.views"} <= imports(nested, "bot.setup")
    assert imports("from .texts import X\n", "bot.handlers.start") >= {"bot.handlers.texts"}
    assert imports("from ..errors import Y\n", "bot.handlers.start") >= {"bot.errors"}
    assert imports("from . import keys\n", "bot.handlers", is_package=True) >= {
        "bot.handlers.keys"
    }
