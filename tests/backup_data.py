"""Data for backup tests: a row in every table through the domain, and every table read back
with plain SQL (neither the ORM nor the backup code), so a copy is judged on its own."""

import asyncio
import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from db.models import AuditEvent, VPNKey, VPNServer
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.billing import orders, payments, plans, promos, referrals
from domain.billing.payments import Charge
from domain.billing.plans import PlanSpec
from domain.context import Context
from domain.keys import issuing, moves
from domain.settings import GIB
from domain.traffic.ledger import sync_traffic
from vpn.emulator import OutlineEmulator

ACTOR = "api:backup-tests"
REFERRER, FRIEND, BUYER = 501, 502, 503
HISTORY = 1500  # more audit rows than a restore writes at once (restore.CHUNK)
Rows = dict[str, list[dict[str, Any]]]


async def seed_every_table(ctx: Context, alpha: OutlineEmulator) -> int:
    """A referral, a plan, a promo code and its use, a paid order (its payment, key and
    bonus), a pending order, a key moved from ``alpha`` to ``beta``, booked traffic and a
    long audit history (bulk inserted); the number of keys made."""
    await users.upsert_user(UserProfile(REFERRER, "Ref", language_code="en"), actor=ACTOR)
    invite = (await referrals.referral_info(ctx, REFERRER)).payload
    friend = UserProfile(FRIEND, "Friend", language_code="ru")
    await users.upsert_user(friend, actor=ACTOR, start_payload=invite)
    await users.upsert_user(UserProfile(BUYER, "Buyer"), actor=ACTOR)
    own = await issuing.create_key(ctx, server="alpha", tg_id=REFERRER, days=10, actor=ACTOR)
    spec = PlanSpec("Monthly", "Месяц", days=30, price_stars=100, traffic_limit=100 * GIB)
    plan = await plans.create_plan(spec, actor=ACTOR)
    await promos.create_promo("SPRING20", percent_off=20, max_uses=10, actor=ACTOR)
    alpha_id = (await VPNServer.get(name="alpha")).id
    order = await orders.checkout(
        ctx, tg_id=FRIEND, plan_id=plan.id, server_id=alpha_id, promo_code="SPRING20", actor=ACTOR
    )
    charge = Charge(order.token, order.price, "XTR", "stxBackupCharge1", "")
    paid = await payments.take_payment(ctx, tg_id=FRIEND, charge=charge)
    assert paid.key is not None, "the payment made the friend's key"
    await orders.checkout(ctx, tg_id=BUYER, plan_id=plan.id, server_id=alpha_id, actor=ACTOR)
    beta_id = (await VPNServer.get(name="beta")).id
    await moves.move_to(ctx, key_id=paid.key.id, server_id=beta_id, actor=ACTOR)
    alpha.add_traffic(own.remote_id, 5_000_000)
    await sync_traffic(ctx)
    history = [
        AuditEvent(
            at=ctx.now() - timedelta(minutes=n),
            actor=ACTOR,
            action="test.history",
            user_id=REFERRER,
            details={"n": n, "note": 'ключ 🔑 "quoted"', "nested": {"even": n % 2 == 0}},
        )
        for n in range(HISTORY)
    ]
    await AuditEvent.bulk_create(history, batch_size=500)
    return await VPNKey.all().count()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_value(declared: str, value: Any) -> Any:
    if value is None:
        return None
    if declared == "TIMESTAMP":
        return _utc(datetime.fromisoformat(value))
    return json.loads(value) if declared == "JSON" else value


def _postgres_value(declared: str, value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)  # SQLite keeps booleans as 0 and 1
    if isinstance(value, datetime):
        return _utc(value)
    return json.loads(value) if declared in ("json", "jsonb") and value is not None else value


def _sqlite_rows(path: Path) -> Rows:
    found: Rows = {}
    with closing(sqlite3.connect(path)) as conn:
        names = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' AND name != 'aerich'"
        ).fetchall()
        for (name,) in names:
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            declared = {column: kind.upper() for _, column, kind, *_ in info}
            pk = ", ".join(f'"{r[1]}"' for r in sorted(info, key=lambda r: r[5]) if r[5])
            cursor = conn.execute(f'SELECT * FROM "{name}" ORDER BY {pk}')
            columns = [d[0] for d in cursor.description]
            found[name] = [
                {c: _sqlite_value(declared[c], v) for c, v in zip(columns, row, strict=True)}
                for row in cursor
            ]
    return found


PK_SQL = """SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisprimary"""
TYPES_SQL = """SELECT column_name, data_type FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = $1"""


async def _postgres_rows(url: str) -> Rows:
    found: Rows = {}
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename != 'aerich'"
        )
        for (name,) in tables:
            declared = dict(await conn.fetch(TYPES_SQL, name))
            pk = ", ".join(f'"{r[0]}"' for r in await conn.fetch(PK_SQL, f'"{name}"'))
            rows = await conn.fetch(f'SELECT * FROM "{name}" ORDER BY {pk}')
            found[name] = [
                {c: _postgres_value(declared[c], v) for c, v in r.items()} for r in rows
            ]
    finally:
        await conn.close()
    return found


async def table_rows(url: str) -> Rows:
    """Every table's rows by primary key, as ``{column: value}`` alike in both dialects
    (times as UTC datetimes, JSON parsed, booleans as 0/1)."""
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://").split("?")[0])
        return await asyncio.to_thread(_sqlite_rows, path)
    return await _postgres_rows(url)


def assert_same_rows(source: Rows, copy: Rows) -> None:
    """The same tables, the same rows in primary-key order, the same value in every column."""
    assert source.keys() == copy.keys()
    for table, rows in source.items():
        assert len(copy[table]) == len(rows), f"{table}: {len(rows)} rows, {len(copy[table])}"
        for row, other in zip(rows, copy[table], strict=True):
            assert row.keys() == other.keys(), table
            differ = {c: (v, other[c]) for c, v in row.items() if other[c] != v}
            assert not differ, f"{table} row {next(iter(row.values()))}: {differ}"
