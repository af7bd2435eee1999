"""Serialising every change of one key, across processes: a lease on the key's row.

A change talks to the key's VPN server (each call bounded by ``OUTLINE_TIMEOUT_SECONDS``,
repeated a bounded number of times to settle a lost answer) and then writes the database.
Holding a transaction, a row lock or an advisory lock across those calls would pin a pooled
connection and block every other writer of the row (the traffic ledger) for as long, and on
SQLite hold the file's only write lock. So the lock is a *lease* kept on the row
(``lock_holder``, ``lock_expires_at``):

* taken by one conditional ``UPDATE`` (atomic on PostgreSQL and SQLite) when the row is free
  or its lease has run out, and given back by another;
* renewed every ``LEASE_SECONDS / 3`` while held, so a long change keeps it and a crashed
  process frees it within ``LEASE_SECONDS``;
* checked again inside the change's final transaction (``Lease.transaction``: the row is
  locked there by ``SELECT … FOR UPDATE`` on PostgreSQL, by ``BEGIN IMMEDIATE`` on SQLite),
  so a holder that lost its lease can never write over the next holder's change.

Waiters in this process queue on an ``asyncio.Lock``; other processes' waiters poll with
backoff. Nothing is held while waiting, so waits cannot deadlock, and nobody waits longer
than ``wait`` seconds: then ``KeyBusy`` (409).

Batches (expiry and quota sweeps) use ``keys_locked(ids)``: one ``UPDATE`` takes every free
key of the batch at once, without waiting, and yields the ids it got; the rest are busy
with another change and can be taken next round.
"""

import asyncio
import logging
import os
import random
import secrets
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from weakref import WeakValueDictionary

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from db import reads, writes
from db.models import AuditEvent, VPNKey
from domain.bounds import MAX_ROW_ID, in_range
from domain.errors import Conflict, NotFound

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
WAIT_SECONDS = 10.0
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.25
_local: WeakValueDictionary[int, asyncio.Lock] = WeakValueDictionary()


class KeyBusy(Conflict):
    """Another request is changing this key right now."""

    code = "key_busy"


@dataclass(slots=True)
class Lease:
    """The lock on some keys, held by ``holder``."""

    holder: str
    key_ids: frozenset[int]
    # The final save gives the lease back itself (``release_with``), once committed.
    releasing: bool = False
    released: bool = False

    def release_with(self, key: VPNKey) -> list[str]:
        """Give the lease back in the save of ``key`` inside ``transaction``: the fields to
        save with it. Spares the separate write that ending the lock would make."""
        key.lock_holder, key.lock_expires_at = None, None
        self.releasing = True
        return ["lock_holder", "lock_expires_at"]

    async def confirm(self) -> None:
        """Inside a transaction: lock the rows and make sure the lease is still ours (one
        plain query: every key change makes it)."""
        ids = sorted(self.key_ids)  # one order for every holder of several rows
        marks = ", ".join(f"${n + 2}" for n in range(len(ids)))
        sql = f"SELECT id FROM vpn_keys WHERE lock_holder = $1 AND id IN ({marks}) ORDER BY id"
        if not writes.on_sqlite():  # SQLite's BEGIN IMMEDIATE already holds the file's lock
            sql += " FOR UPDATE"
        held = await reads.fetch(sql, self.holder, *ids)
        if len(held) != len(self.key_ids):
            lost = sorted(self.key_ids - {row["id"] for row in held})
            raise _lost(lost)

    async def save_with(self, key: VPNKey, names: list[str], event: AuditEvent) -> None:
        """Save the fields ``names`` of ``key`` and insert ``event`` in one round trip, if
        the lease is still ours (else ``KeyBusy``): ``transaction`` for a change of one key
        whose event queues nothing (``outbox.causes_notices``)."""
        sets, values = writes.update_parts(key, names)
        held = f"id = ${len(values) + 1} AND lock_holder = ${len(values) + 2}"
        sql = f"UPDATE {VPNKey._meta.db_table} SET {sets} WHERE {held}"
        if not await writes.with_row(sql, [*values, key.id, self.holder], event):
            raise _lost([key.id])
        self.released = self.releasing

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[BaseDBAsyncClient]:
        """A transaction that commits only while the lease is still ours."""
        async with in_transaction() as conn:
            await self.confirm()
            yield conn
        self.released = self.releasing  # committed: a lease given back in it is gone


def _lost(key_ids: list[int]) -> KeyBusy:
    """The refusal of a change whose lease ran out before it was saved (logged)."""
    logger.warning("lease of key(s) %s ran out before the change was saved", key_ids)
    return KeyBusy("the key was changed meanwhile; try again")


def _now() -> datetime:
    # Wall-clock time, not the domain's (tests move that one): leases are about real seconds.
    return datetime.now(UTC)


def _holder() -> str:
    return f"{os.getpid()}-{secrets.token_hex(6)}"


def new_lease() -> dict[str, str | datetime]:
    """The fields that make a row being inserted leased from the start (``staged_key_lock``)."""
    until = _now() + timedelta(seconds=LEASE_SECONDS)
    return {"lock_holder": _holder(), "lock_expires_at": until}


async def _take(key_ids: list[int], holder: str) -> set[int]:
    """Lease every free key of ``key_ids``; the ids now held by ``holder``."""
    now = _now()
    free = Q(lock_holder=None) | Q(lock_expires_at__lt=now)
    until = now + timedelta(seconds=LEASE_SECONDS)
    taken = await VPNKey.filter(Q(id__in=key_ids) & free).update(
        lock_holder=holder, lock_expires_at=until
    )
    if taken == len(key_ids):
        return set(key_ids)
    if not taken:
        return set()
    mine = VPNKey.filter(id__in=key_ids, lock_holder=holder)
    return set(await mine.values_list("id", flat=True))


async def _renew(key_ids: frozenset[int], holder: str) -> None:
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        until = _now() + timedelta(seconds=LEASE_SECONDS)
        try:
            await VPNKey.filter(id__in=key_ids, lock_holder=holder).update(lock_expires_at=until)
        except Exception as exc:  # the next renewal (or the final check) tells
            logger.warning("lease renewal of key(s) %s failed: %s", sorted(key_ids), exc)


@asynccontextmanager
async def _held(key_ids: set[int], holder: str) -> AsyncIterator[Lease]:
    lease = Lease(holder, frozenset(key_ids))
    renewer = asyncio.create_task(_renew(lease.key_ids, holder))
    try:
        yield lease
    finally:
        renewer.cancel()
        with suppress(asyncio.CancelledError):
            await renewer
        if not lease.released:
            await VPNKey.filter(id__in=key_ids, lock_holder=holder).update(
                lock_holder=None, lock_expires_at=None
            )


async def _lease_one(key_id: int, holder: str, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    pause = _FIRST_PAUSE
    while not await _take([key_id], holder):
        if pause == _FIRST_PAUSE and not await VPNKey.exists(id=key_id):
            raise NotFound(f"key {key_id} not found", key=key_id)
        if loop.time() + pause > deadline:
            raise KeyBusy(f"key {key_id} is being changed by another request; try again")
        await asyncio.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(pause * 2, _LONGEST_PAUSE)


@asynccontextmanager
async def key_lock(key_id: int, *, wait: float = WAIT_SECONDS) -> AsyncIterator[Lease]:
    """Hold the lock of one key while its server and database state change together.

    Waits at most ``wait`` seconds (``0``: fail at once) and then raises ``KeyBusy``.
    """
    if not in_range(key_id, MAX_ROW_ID):  # no such row, and no id the database can compare
        raise NotFound(f"key {key_id} not found", key=key_id)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    local = _local.get(key_id)
    if local is None:
        local = _local[key_id] = asyncio.Lock()
    try:
        if local.locked() and wait <= 0:
            raise TimeoutError
        async with asyncio.timeout(max(wait, 0.0) if local.locked() else None):
            await local.acquire()
    except TimeoutError:
        raise KeyBusy(f"key {key_id} is being changed by another request; try again") from None
    try:
        holder = _holder()
        await _lease_one(key_id, holder, deadline)
        async with _held({key_id}, holder) as lease:
            yield lease
    finally:
        local.release()


@asynccontextmanager
async def staged_key_lock(key: VPNKey) -> AsyncIterator[Lease]:
    """The lock of a key inserted already leased (``new_lease``): nothing more to write to
    take it. Nobody else can hold it yet, in this process or another."""
    local = _local[key.id] = asyncio.Lock()
    async with local, _held({key.id}, str(key.lock_holder)) as lease:
        yield lease


@asynccontextmanager
async def keys_locked(key_ids: Iterable[int]) -> AsyncIterator[tuple[set[int], Lease]]:
    """Lock every key of ``key_ids`` that is free now (no waiting); yields those taken.

    For batches: ``async with keys_locked(ids) as (taken, lease)`` then change only the keys
    in ``taken`` and write them in ``lease.transaction()``; busy keys wait for next round.
    Keys this process is changing (held by ``key_lock``) count as busy.
    """
    wanted = sorted({k for k in key_ids if not (k in _local and _local[k].locked())})
    holder = _holder()
    taken = await _take(wanted, holder) if wanted else set()
    async with _held(taken, holder) as lease:
        yield taken, lease
