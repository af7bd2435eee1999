"""Expiry sweep and reminders against the emulator over HTTP, with a test-driven clock."""

import asyncio
from datetime import timedelta

from db.models import InactiveReason, Notice, VPNKey
from domain.context import Context
from domain.keys import changes
from domain.keys.expiry import sweep_expired
from domain.lifecycle.worker import run_worker
from domain.notices import outbox
from domain.notices.reminders import send_reminders
from domain.settings import Settings
from domain.traffic.ledger import sync_traffic
from tests.worker_fixtures import ADMIN_ACTOR, OWNER, FakeClock, FakeMessenger, eventually, new_key


def worker_settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        expiry_check_seconds=0.05,
        outbox_poll_seconds=0.05,
        traffic_sync_seconds=3600,
        reconcile_seconds=3600,
        telegram_rate_per_second=1000,
        telegram_chat_interval_seconds=0,
    )


async def test_a_key_past_its_expiry_is_cut_on_the_server_and_marked_within_one_sweep(
    ctx: Context, clock: FakeClock, owner, outline_server
) -> None:
    key = await new_key(ctx, days=1)
    other = await new_key(ctx, days=5)
    assert await sweep_expired(ctx) == 0
    clock.advance(days=1, seconds=1)
    assert await sweep_expired(ctx) == 1
    await key.refresh_from_db()
    assert (key.is_active, key.inactive_reason) == (False, InactiveReason.EXPIRED)
    emulator = outline_server.emulator
    assert emulator.key_limit(key.remote_id) == 0 and emulator.is_blocked(key.remote_id)
    assert emulator.key_limit(other.remote_id) is None
    assert await sweep_expired(ctx) == 0


async def test_owner_gets_exactly_one_expired_notice_across_worker_restarts(
    ctx: Context, clock: FakeClock, owner, database_url: str, messenger: FakeMessenger
) -> None:
    key = await new_key(ctx, days=1)
    clock.advance(days=2)
    settings = worker_settings(database_url)

    async def expired_sent() -> bool:
        return "expired" in messenger.kinds()

    for _ in range(3):  # start, let it sweep and deliver, stop; three times
        async with run_worker(ctx, settings, messenger):
            await eventually(expired_sent)
            await asyncio.sleep(0.2)  # several more sweeps and deliveries
    assert messenger.kinds(OWNER).count("expired") == 1
    assert await Notice.filter(key_id=key.id, kind=outbox.EXPIRED).count() == 1
    expired = next(s for s in messenger.sent if s.kind == "expired")
    assert expired.language == "ru"
    assert expired.payload["key_id"] == key.id and expired.payload["inactive_reason"] == "expired"
    assert "access_url" not in expired.payload


async def test_extending_reopens_a_key_cut_for_expiry_but_not_one_disabled_by_hand(
    ctx: Context, clock: FakeClock, owner, outline_server
) -> None:
    expired = await new_key(ctx, days=1, traffic_limit=10_000)
    disabled = await new_key(ctx, days=1)
    await changes.set_active(
        ctx, key_id=disabled.id, server="alpha", is_active=False, actor=ADMIN_ACTOR
    )
    clock.advance(days=2)
    assert await sweep_expired(ctx) == 1
    for key in (expired, disabled):
        await changes.extend_key(ctx, key_id=key.id, server="alpha", days=30, actor=ADMIN_ACTOR)
    await expired.refresh_from_db()
    await disabled.refresh_from_db()
    assert (expired.is_active, expired.inactive_reason) == (True, None)
    assert outline_server.emulator.key_limit(expired.remote_id) == 10_000
    assert (disabled.is_active, disabled.inactive_reason) == (False, InactiveReason.MANUAL)
    assert outline_server.emulator.key_limit(disabled.remote_id) == 0


async def test_a_past_date_set_through_the_api_cuts_the_key_by_the_next_sweep(
    ctx: Context, clock: FakeClock, owner, outline_server
) -> None:
    key = await new_key(ctx, days=30)
    past = clock.now() - timedelta(hours=1)
    await changes.set_valid_until(
        ctx, key_id=key.id, server="alpha", valid_until=past, actor=ADMIN_ACTOR
    )
    await sweep_expired(ctx)
    await key.refresh_from_db()
    assert (key.is_active, key.inactive_reason) == (False, InactiveReason.EXPIRED)
    assert outline_server.emulator.key_limit(key.remote_id) == 0
    kinds = await Notice.filter(key_id=key.id).values_list("kind", flat=True)
    assert sorted(kinds) == ["expired", "key_created", "key_extended"]


async def test_a_server_failure_postpones_the_cut_to_the_next_sweep(
    ctx: Context, clock: FakeClock, owner, outline_server
) -> None:
    key = await new_key(ctx, days=1)
    clock.advance(days=2)
    outline_server.emulator.faults.fail_next(1, 503, path_contains="/data-limit")
    assert await sweep_expired(ctx) == 0
    await key.refresh_from_db()
    assert key.is_active and outline_server.emulator.key_limit(key.remote_id) is None
    assert await sweep_expired(ctx) == 1
    assert outline_server.emulator.key_limit(key.remote_id) == 0


async def test_an_expired_key_already_cut_for_traffic_is_marked_expired(
    ctx: Context, clock: FakeClock, owner
) -> None:
    key = await new_key(ctx, days=1, traffic_limit=0)
    await sync_traffic(ctx)  # a zero allowance is used up at once
    await key.refresh_from_db()
    assert not key.is_active and key.inactive_reason == InactiveReason.TRAFFIC
    clock.advance(days=2)
    assert await sweep_expired(ctx) == 1
    await key.refresh_from_db()
    assert key.inactive_reason == InactiveReason.EXPIRED


async def test_reminders_come_three_days_and_one_day_before_expiry_once_each(
    ctx: Context, clock: FakeClock, owner
) -> None:
    key = await new_key(ctx, days=5)
    unowned = await new_key(ctx, days=5, tg_id=None)
    assert await send_reminders(ctx) == 0
    clock.advance(days=2, hours=12)
    assert await send_reminders(ctx) == 1
    assert await send_reminders(ctx) == 0
    clock.advance(days=2)
    assert await send_reminders(ctx) == 1
    assert await send_reminders(ctx) == 0
    kinds = await Notice.filter(key_id=key.id, kind__startswith="expires").values_list(
        "kind", flat=True
    )
    assert sorted(kinds) == ["expires_1d", "expires_3d"]
    assert not await Notice.filter(key_id=unowned.id).exists()
    # A new expiry date (now a day and a half away) earns its own reminder.
    await changes.extend_key(ctx, key_id=key.id, server="alpha", days=1, actor=ADMIN_ACTOR)
    assert await send_reminders(ctx) == 1
    assert await Notice.filter(key_id=key.id, kind="expires_3d").count() == 2
    assert await VPNKey.filter(id=key.id, is_active=True).exists()
