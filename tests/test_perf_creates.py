"""The create path writes each thing once: the staged row is inserted already leased and its
last save gives the lease back, so a create commits twice (staged, live) and no more."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tortoise import connections

from db import writes
from db.models import VPNKey
from domain.context import Context
from domain.errors import DomainError
from domain.keys import issuing, provisioning
from domain.keys.locks import KeyBusy

ACTOR = "api:tests"
KEY_WRITES = (
    'INSERT INTO "vpn_keys"',
    "INSERT INTO vpn_keys",
    'UPDATE "vpn_keys"',
    "UPDATE vpn_keys",
)


@pytest.fixture
async def statements(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[list[str]]:
    """Every SQL statement sent to the database: on SQLite as its connection runs them
    (the ORM's and ``db.writes``' alike), on PostgreSQL as the ORM and ``with_row`` send them."""
    sent: list[str] = []
    if writes.on_sqlite():
        conn = connections.get("default")._connection
        await conn._execute(conn._conn.set_trace_callback, sent.append)  # in its thread
        yield sent
        await conn._execute(conn._conn.set_trace_callback, None)
        return
    mro = type(connections.get("default")).__mro__
    for name in ("execute_query", "execute_query_dict", "execute_insert"):
        client = next(klass for klass in mro if name in vars(klass))  # transactions' too
        real = getattr(client, name)

        def spy(real: Any = real) -> Any:
            async def sending(self: Any, query: str, *args: Any) -> Any:
                sent.append(query)
                return await real(self, query, *args)

            return sending

        monkeypatch.setattr(client, name, spy())
    real_with_row = writes.with_row

    async def with_row(statement: str, *args: Any) -> bool:  # one trip past the ORM
        sent.append(statement)
        return await real_with_row(statement, *args)

    monkeypatch.setattr(writes, "with_row", with_row)
    yield sent


async def test_a_create_writes_the_key_row_twice_and_leaves_it_unleased(
    ctx: Context, server, statements: list[str]
) -> None:
    key = await issuing.create_key(ctx, server="alpha", actor=ACTOR, name="k")
    key_writes = [q for q in statements if q.startswith(KEY_WRITES)]
    assert len(key_writes) == 2, key_writes  # staged (leased), then live (lease given back)
    assert "lock_holder" in key_writes[0] and "lock_holder" in key_writes[1]
    stored = await VPNKey.get(id=key.id)
    assert (stored.state, stored.lock_holder, stored.lock_expires_at) == ("live", None, None)


async def test_a_failed_create_gives_its_lease_back(ctx: Context, server, outline_server) -> None:
    outline_server.emulator.faults.fail_next(1, status=500)
    with pytest.raises(DomainError):
        await issuing.create_key(ctx, server="alpha", actor=ACTOR, name="k")
    assert not await VPNKey.filter(lock_holder__isnull=False).exists()


async def test_a_create_whose_lease_ran_out_meanwhile_leaves_no_key(
    ctx: Context, server, outline_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_push = provisioning.push

    async def push_then_lose_the_lease(*args: Any) -> Any:
        created = await real_push(*args)
        await VPNKey.filter(state="creating").update(lock_holder="another-process")
        return created

    monkeypatch.setattr(provisioning, "push", push_then_lose_the_lease)
    with pytest.raises(KeyBusy):
        await issuing.create_key(ctx, server="alpha", actor=ACTOR, name="k")
    assert not await VPNKey.exists()
    assert outline_server.emulator.keys == {}
