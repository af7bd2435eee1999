"""Counting database round trips: plain reads, one-trip writes and the ORM's own queries."""

from typing import Any

import pytest
from tortoise import connections

from db import reads, writes


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every database round trip: plain reads, one-trip writes and the ORM's own queries
    (not the ORM calls those two make themselves)."""
    made: list[str] = []
    inside: list[str] = []

    def spy(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if not inside:
                made.append(name)
            inside.append(name)
            try:
                return await real(*args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(owner, name, counted)

    spy(reads, "fetch")
    spy(writes, "with_row")
    client = type(connections.get("default"))
    for name in ("execute_query", "execute_query_dict", "execute_insert", "execute_many"):
        spy(client, name)
    return made
