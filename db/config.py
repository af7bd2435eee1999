"""Tortoise configuration built from a ``DATABASE_URL``; ``TORTOISE_ORM`` serves aerich."""

import os
from typing import Any

from tortoise.backends.base.config_generator import expand_db_url

DEFAULT_DATABASE_URL = "sqlite://data/vpnkeys.sqlite3"
MODELS = ["db.models", "aerich.models"]


def connection_config(url: str) -> dict[str, Any]:
    """The Tortoise connection for ``url``: SQLite with immediate transactions
    (``db.sqlite``), PostgreSQL with a fair pool released without a reset (``db.postgres``)."""
    config = expand_db_url(url)
    config["engine"] = "db.sqlite" if url.startswith("sqlite://") else "db.postgres"
    return config


def sqlite_file(url: str) -> str | None:
    """The file of a ``sqlite://`` URL (its query string sets pragmas, such as
    ``?synchronous=NORMAL``), or ``None`` for another database."""
    if not url.startswith("sqlite://"):
        return None
    return expand_db_url(url)["credentials"]["file_path"]


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database URL."""
    return {
        "connections": {"default": connection_config(url)},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


# aerich's CLI reads this module attribute (see [tool.tortoise] in pyproject.toml).
TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
