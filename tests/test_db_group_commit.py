"""Group commit on SQLite (``db.writes``): concurrent small transactions share one commit,
each still answers for itself, and an answer comes only once its rows are committed."""

import asyncio
import sqlite3
from collections.abc import AsyncIterator

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError

from db import writes
from db.models import User
from tests.conftest import ON_POSTGRES

pytestmark = pytest.mark.skipif(
    ON_POSTGRES, reason="SQLite only: PostgreSQL flushes concurrent commits together by itself"
)


@pytest.fixture
async def commits(db: str) -> AsyncIterator[list[str]]:
    """Every ``COMMIT`` the ORM's SQLite connection runs."""
    sent: list[str] = []
    conn = connections.get("default")._connection
    trace = lambda sql: sent.append(sql) if sql == "COMMIT" else None  # noqa: E731
    await conn._execute(conn._conn.set_trace_callback, trace)  # in the connection's thread
    yield sent
    await conn._execute(conn._conn.set_trace_callback, None)


async def test_concurrent_inserts_share_one_commit_and_are_all_stored(commits: list[str]) -> None:
    users = [User(id=1000 + n, first_name=f"U{n}") for n in range(20)]
    await asyncio.gather(*(writes.insert(user) for user in users))
    assert len(commits) < len(users)
    stored = await User.filter(id__gte=1000).values_list("id", flat=True)
    assert sorted(stored) == [user.id for user in users]


async def test_one_failing_transaction_is_undone_alone(commits: list[str]) -> None:
    await writes.insert(User(id=1, first_name="first"))

    def fails_half_way(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE users SET first_name = 'changed' WHERE id = 1")
        raise RuntimeError("refused")

    outcomes = await asyncio.gather(
        writes.insert(User(id=3, first_name="before")),
        writes.insert(User(id=1, first_name="duplicate")),
        writes.sqlite_transaction(fails_half_way),
        writes.insert(User(id=4, first_name="after")),
        return_exceptions=True,
    )
    assert len(commits) == 3  # the first insert; of the four, one at once, three together
    assert outcomes[0] is None and outcomes[3] is None
    assert isinstance(outcomes[1], IntegrityError)
    assert isinstance(outcomes[2], RuntimeError)
    names = dict(await User.all().values_list("id", "first_name"))
    assert names == {1: "first", 3: "before", 4: "after"}  # neither the change nor the duplicate
