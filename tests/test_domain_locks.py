"""The key lock: a lease on the key row, shared by every process on the database."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from db.models import VPNKey
from domain.context import Context
from domain.errors import NotFound
from domain.keys import changes, issuing, locks
from domain.keys.locks import KeyBusy, key_lock, keys_locked

ACTOR = "api:test"


@pytest.fixture
async def key(ctx: Context, server) -> VPNKey:
    return await issuing.create_key(ctx, server="alpha", actor=ACTOR, days=30)


async def steal(key_id: int, holder: str = "other-process") -> None:
    """What another process holding the lock leaves in the row."""
    until = datetime.now(UTC) + timedelta(seconds=locks.LEASE_SECONDS)
    await VPNKey.filter(id=key_id).update(lock_holder=holder, lock_expires_at=until)


async def test_a_key_held_by_another_process_is_busy_after_the_wait(key: VPNKey) -> None:
    await steal(key.id)
    started = asyncio.get_running_loop().time()
    with pytest.raises(KeyBusy):
        async with key_lock(key.id, wait=0.3):
            pass
    assert 0.1 < asyncio.get_running_loop().time() - started < 2.0


async def test_the_lock_is_taken_as_soon_as_the_other_holder_lets_go(key: VPNKey) -> None:
    await steal(key.id)

    async def let_go() -> None:
        await asyncio.sleep(0.2)
        await VPNKey.filter(id=key.id).update(lock_holder=None, lock_expires_at=None)

    release = asyncio.create_task(let_go())
    async with key_lock(key.id, wait=5) as lease:
        assert (await VPNKey.get(id=key.id)).lock_holder == lease.holder
    await release
    assert (await VPNKey.get(id=key.id)).lock_holder is None


async def test_a_crashed_holders_lease_runs_out(key: VPNKey) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    await VPNKey.filter(id=key.id).update(lock_holder="dead-process", lock_expires_at=past)
    async with key_lock(key.id, wait=0):
        pass


async def test_waiters_in_one_process_queue_and_each_gets_its_turn(key: VPNKey) -> None:
    order: list[int] = []

    async def hold(n: int) -> None:
        async with key_lock(key.id):
            order.append(n)
            await asyncio.sleep(0.02)

    await asyncio.gather(*(hold(n) for n in range(5)))
    assert sorted(order) == list(range(5))


async def test_no_wait_means_busy_at_once(key: VPNKey) -> None:
    async with key_lock(key.id):
        with pytest.raises(KeyBusy):
            async with key_lock(key.id, wait=0):
                pass


async def test_an_unknown_key_is_not_found_not_busy(server) -> None:
    with pytest.raises(NotFound):
        async with key_lock(999_999):
            pass


async def test_a_holder_that_lost_its_lease_cannot_save(key: VPNKey) -> None:
    async with key_lock(key.id) as lease:
        await steal(key.id, "next-holder")
        with pytest.raises(KeyBusy):
            async with lease.transaction():
                await VPNKey.filter(id=key.id).update(name="lost update")
    stored = await VPNKey.get(id=key.id)
    assert stored.name != "lost update" and stored.lock_holder == "next-holder"


async def test_a_long_change_keeps_its_lease(key: VPNKey, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks, "LEASE_SECONDS", 0.3)
    async with key_lock(key.id) as lease:
        await asyncio.sleep(0.6)  # twice the lease: renewed meanwhile
        async with lease.transaction():
            pass


async def test_a_batch_takes_the_free_keys_and_skips_the_busy_ones(
    ctx: Context, server, key: VPNKey
) -> None:
    other = await issuing.create_key(ctx, server="alpha", actor=ACTOR)
    await steal(other.id)
    async with keys_locked([key.id, other.id]) as (taken, lease):
        assert taken == {key.id}
        async with lease.transaction():
            pass
    assert (await VPNKey.get(id=key.id)).lock_holder is None
    assert (await VPNKey.get(id=other.id)).lock_holder == "other-process"


async def test_a_change_waits_for_a_key_another_process_holds(ctx: Context, key: VPNKey) -> None:
    await steal(key.id)
    extend = asyncio.create_task(
        changes.extend_key(ctx, key_id=key.id, server="alpha", days=1, actor=ACTOR)
    )
    await asyncio.sleep(0.2)
    assert not extend.done()
    await VPNKey.filter(id=key.id).update(lock_holder=None, lock_expires_at=None)
    extended = await extend
    assert extended.valid_until == key.valid_until + timedelta(days=1)
