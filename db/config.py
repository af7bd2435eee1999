"""Tortoise configuration built from a ``DATABASE_URL``; ``TORTOISE_ORM`` serves aerich."""

import os
from typing import Any

DEFAULT_DATABASE_URL = "sqlite://data/vpnkeys.sqlite3"
MODELS = ["db.models", "aerich.models"]


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database URL."""
    return {
        "connections": {"default": url},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


# aerich's CLI reads this module attribute (see [tool.tortoise] in pyproject.toml).
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
