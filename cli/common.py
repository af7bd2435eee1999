"""What every one-shot command shares: its domain context, and argparse types."""

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from db.connect import close_database, open_database
from domain import bounds
from domain.context import Context
from domain.settings import Settings
from vpn.pool import BackendPool

# A command: runs with the settings and its parsed arguments; returns its exit status (None: 0).
Command = Callable[[Settings, argparse.Namespace], Awaitable[int | None]]


@asynccontextmanager
async def domain_context(settings: Settings) -> AsyncIterator[Context]:
    """Open the database and the VPN client pool for a one-shot command."""
    await open_database(settings.database_url)
    pool = BackendPool(timeout=settings.outline_timeout_seconds)
    try:
        yield Context.from_settings(settings, pool)
    finally:
        await pool.close()
        await close_database()


def row_id(maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number from 1 to ``maximum`` (an id its column can hold)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or thousands of digits
            value = 0
        if not bounds.in_range(value, maximum):
            raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {maximum}")
        return value

    return parse
