"""The traffic ledger against the emulator over HTTP: injected traffic, time moved by a
test clock, the 30-day window ageing, outages, a refresh and lost counters."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from db.models import InactiveReason, Notice, TrafficBucket, VPNKey
from domain import audit
from domain.context import Context
from domain.keys import changes, issuing, moves
from domain.notices import outbox
from domain.servers import registry
from domain.traffic import history, ledger
from domain.traffic.ledger import SyncReport, sync_traffic
from domain.traffic.periods import add_month, set_traffic_reset
from domain.traffic.rows import KeyRow
from tests.worker_fixtures import ADMIN_ACTOR, OWNER, FakeClock, new_key
from vpn.emulator import RunningEmulator, start_emulator


class Traffic:
    """Injects traffic into the emulator and keeps the true total."""

    def __init__(self, running: RunningEmulator) -> None:
        self.emulator = running.emulator
        self.total = 0

    def add(self, key: VPNKey, nbytes: int) -> None:
        self.emulator.add_traffic(key.remote_id, nbytes)
        self.total += nbytes


async def step(ctx: Context, clock: FakeClock, **delta: float) -> SyncReport:
    clock.advance(**delta)
    (report,) = await sync_traffic(ctx)
    return report


async def used(key: VPNKey) -> int:
    return (await VPNKey.get(id=key.id)).traffic_used


@pytest.fixture(params=["since", "counters"])
def metrics(request: pytest.FixtureRequest, outline_server: RunningEmulator) -> str:
    """Whether the server has the per-interval metrics (Outline >= 1.12) or the ledger
    must work from the 30-day counters alone."""
    outline_server.emulator.experimental = request.param == "since"
    return request.param


async def test_usage_equals_the_true_total_through_a_drop_an_outage_a_refresh_and_a_reset(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator, metrics: str
) -> None:
    emulator, traffic = outline_server.emulator, Traffic(outline_server)
    key = await new_key(ctx)
    await sync_traffic(ctx)
    # An hour of five-minute syncs with heavy traffic; the server is down for three of them.
    for n in range(1, 13):
        clock.advance(minutes=5)
        if n == 4:
            emulator.faults.fail_next(3, 500, path_contains="/metrics/")
        if n == 8:
            traffic.add(key, 700_000)
            key = await issuing.refresh_key(ctx, key_id=key.id, server="alpha", actor=ADMIN_ACTOR)
        traffic.add(key, 1_000_000 + n)
        (report,) = await sync_traffic(ctx)
        assert (report.error is not None) == (n in (4, 5, 6))
        assert report.error or report.method == metrics
    assert await used(key) == traffic.total
    # Forty daily syncs with light traffic: the heavy hour leaves the 30-day window.
    window_before = emulator.usage_30d(key.remote_id)
    for day in range(1, 41):
        clock.advance(days=1)
        traffic.add(key, 1_000 * day)
        await sync_traffic(ctx)
        assert await used(key) == traffic.total, f"day {day}"
    assert emulator.usage_30d(key.remote_id) < window_before  # the counter went down
    # The server loses its counters (metrics store wiped on a restart). A key too young
    # for any of its traffic to have aged shows it for certain: its counter went down.
    young, young_traffic = await new_key(ctx), Traffic(outline_server)
    await VPNKey.filter(id=young.id).update(created_at=clock.now())  # born in test time
    clock.advance(days=1)
    young_traffic.add(young, 3_000)
    await sync_traffic(ctx)
    clock.advance(hours=5)
    emulator.reset_usage()
    clock.advance(hours=1)
    traffic.add(key, 5_000)
    young_traffic.add(young, 400)
    report = await step(ctx, clock, hours=18)
    assert report.counters_reset == (metrics == "counters")
    for day in range(3):
        clock.advance(days=1)
        traffic.add(key, 2_000 + day)
        young_traffic.add(young, 100 + day)
        await sync_traffic(ctx)
    assert await used(key) == traffic.total
    assert await used(young) == young_traffic.total


async def test_without_per_interval_metrics_irregular_syncs_stay_within_one_interval(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    """From 30-day counters alone, what ages out is estimated from the ledger's hourly
    history; with syncs at random moments the total stays within the bytes of one sync
    interval of the truth (the error of the slice that is ageing), for months."""
    emulator = outline_server.emulator
    emulator.experimental = False
    rng = random.Random(5)
    key = await new_key(ctx)
    await sync_traffic(ctx)
    truth, largest, began = 0, 0, clock.time()
    for _ in range(400):
        interval = rng.choice([300, 900, 3600, 5 * 3600, 8 * 3600])
        start, moved = clock.time(), 0
        for _ in range(rng.randint(0, 3)):
            nbytes = rng.randint(1, 50_000) if rng.random() < 0.9 else rng.randint(1, 3) * 10**6
            emulator.add_traffic(key.remote_id, nbytes, at=start + rng.uniform(0, interval))
            moved += nbytes
        truth, largest = truth + moved, max(largest, moved)
        report = await step(ctx, clock, seconds=interval)
        assert not report.counters_reset
        assert abs(await used(key) - truth) <= largest
    assert clock.time() - began > 40 * 86400  # well past the 30-day window


async def test_steady_use_past_thirty_days_keeps_counting(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.experimental = False
    key = await new_key(ctx)
    traffic = Traffic(outline_server)
    await sync_traffic(ctx)
    for _ in range(4 * 45):  # a sync every 6 hours for 45 days, the same use each time
        clock.advance(hours=6)
        traffic.add(key, 10_000)
        (report,) = await sync_traffic(ctx)
        assert not report.counters_reset
    assert await used(key) == traffic.total == 1_800_000
    # Outline's own number: only the last 30 days.
    assert outline_server.emulator.usage_30d(key.remote_id) == 1_200_000


async def test_quota_reached_cuts_the_key_once_and_raising_the_limit_reopens_it(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    emulator = outline_server.emulator
    key = await new_key(ctx, traffic_limit=1_000)
    traffic = Traffic(outline_server)
    await sync_traffic(ctx)
    traffic.add(key, 600)
    await step(ctx, clock, minutes=5)
    assert emulator.key_limit(key.remote_id) == 1_000  # 400 left + 600 counted by the server
    traffic.add(key, 250)
    await step(ctx, clock, minutes=5)
    assert await Notice.filter(key_id=key.id, kind=outbox.TRAFFIC_80).count() == 1
    # Between two syncs Outline itself cuts the key at its hourly check of the limits.
    traffic.add(key, 150)
    emulator.enforce_limits()
    assert emulator.is_blocked(key.remote_id)
    report = await step(ctx, clock, minutes=5)
    assert report.transitions == {key.id: "key.quota_reached"}
    await key.refresh_from_db()
    assert (key.is_active, key.inactive_reason, key.traffic_used) == (
        False,
        InactiveReason.TRAFFIC,
        1_000,
    )
    assert emulator.key_limit(key.remote_id) == 0
    traffic.add(key, 10)
    for _ in range(3):
        report = await step(ctx, clock, minutes=5)
        assert report.transitions == {}
    assert await Notice.filter(key_id=key.id, kind=outbox.QUOTA_REACHED).count() == 1
    assert await Notice.filter(key_id=key.id, kind=outbox.TRAFFIC_80).count() == 1
    key = await changes.set_traffic_limit(
        ctx, key_id=key.id, server="alpha", traffic_limit=5_000, actor=ADMIN_ACTOR
    )
    assert key.is_active and key.inactive_reason is None
    assert emulator.key_limit(key.remote_id) == 5_000 - 1_010 + 1_010
    assert not emulator.is_blocked(key.remote_id)


async def test_a_monthly_key_starts_each_month_afresh_and_reopens(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    key = await new_key(ctx, traffic_limit=1_000)
    await set_traffic_reset(
        ctx, key_id=key.id, server="alpha", strategy="monthly", actor=ADMIN_ACTOR
    )
    Traffic(outline_server).add(key, 1_500)
    await step(ctx, clock, minutes=5)
    await key.refresh_from_db()
    assert key.inactive_reason == InactiveReason.TRAFFIC
    report = await step(ctx, clock, days=31)
    await key.refresh_from_db()
    assert key.is_active and key.traffic_used == 0
    assert key.period_started_at == add_month(clock.now() - timedelta(days=31, minutes=5))
    assert report.transitions == {}
    assert outline_server.emulator.key_limit(key.remote_id) == 1_000 + key.usage_baseline


async def test_a_server_that_cannot_be_reached_is_reported_and_changes_nothing(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    key = await new_key(ctx)
    Traffic(outline_server).add(key, 100)
    outline_server.emulator.faults.fail_next(1, 503, path_contains="/metrics/transfer")
    report = await step(ctx, clock, minutes=5)
    assert report.error and "alpha" in report.error
    assert await used(key) == 0
    report = await step(ctx, clock, minutes=5)
    assert report.error is None and await used(key) == 100


async def test_removing_a_server_takes_its_keys_history_and_no_one_elses(
    ctx: Context, clock: FakeClock, owner, outline_server: RunningEmulator
) -> None:
    """(Only syncs from the 30-day counters keep a history.)"""
    beta = await start_emulator(clock=clock.time)
    outline_server.emulator.experimental = beta.emulator.experimental = False
    try:
        await registry.add_server(ctx, name="beta", api_url=beta.api_url, actor=audit.CLI)
        gone = await new_key(ctx)
        kept = await issuing.create_key(ctx, server="beta", actor=ADMIN_ACTOR, tg_id=OWNER)
        await sync_traffic(ctx)
        Traffic(outline_server).add(gone, 100)
        Traffic(beta).add(kept, 100)
        clock.advance(minutes=5)
        await sync_traffic(ctx)
        await changes.delete_key(ctx, key_id=gone.id, server=None, actor=ADMIN_ACTOR)
        assert await TrafficBucket.filter(key_id=gone.id).exists()
        await registry.remove_server("alpha", actor=ADMIN_ACTOR)
        assert not await TrafficBucket.filter(key_id=gone.id).exists()
        assert await TrafficBucket.filter(key_id=kept.id).exists()
    finally:
        await beta.stop()


async def test_a_key_moved_between_the_syncs_read_and_its_write_keeps_what_the_move_booked(
    ctx: Context,
    clock: FakeClock,
    owner,
    outline_server: RunningEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sync samples alpha's counter of a key; before it writes, the key fails over to
    beta (alpha not asked: its unbooked usage is lost, the row's figures stay as they were).
    The stale sample must not land on the moved key: it would book alpha's bytes and give
    the key alpha's counter as its baseline on beta, where beta's first bytes would vanish."""
    beta = await start_emulator(clock=clock.time)
    try:
        await registry.add_server(ctx, name="beta", api_url=beta.api_url, actor=audit.CLI)
        key = await new_key(ctx)
        Traffic(outline_server).add(key, 5_000)
        read = ledger.live_rows

        async def read_then_move(server_id: int) -> list[KeyRow]:
            rows = await read(server_id)
            if server_id == key.server_id:
                await moves.move_key(
                    ctx, key_id=key.id, server="alpha", target="beta", actor=ADMIN_ACTOR,
                    source_down=True,
                )  # fmt: skip
            return rows

        monkeypatch.setattr(ledger, "live_rows", read_then_move)
        clock.advance(minutes=5)
        alpha_report, _ = await sync_traffic(ctx)
        monkeypatch.undo()
        moved = await VPNKey.get(id=key.id).select_related("server")
        assert moved.server.name == "beta" and moved.remote_id in beta.emulator.keys
        assert (moved.traffic_used, moved.usage_baseline) == (0, 0)
        assert alpha_report.counted == 0 and alpha_report.keys == 0
        assert not await TrafficBucket.filter(key_id=key.id).exists()
        beta.emulator.add_traffic(moved.remote_id, 700)
        clock.advance(minutes=5)
        await sync_traffic(ctx)
        assert await used(key) == 700
    finally:
        await beta.stop()


def test_spread_splits_bytes_over_the_hours_of_an_interval_and_keeps_the_sum() -> None:
    start = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)
    parts = history.spread(1_000, start, start + timedelta(hours=2))
    hours = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (10, 11, 12)]
    assert parts == {hours[0]: 250, hours[1]: 500, hours[2]: 250}
    assert sum(history.spread(999, start, start + timedelta(minutes=1)).values()) == 999
    assert history.spread(0, start, start + timedelta(hours=1)) == {}


def test_spreading_to_one_end_gives_what_spread_gives() -> None:
    end = datetime(2026, 1, 1, 12, 20, tzinfo=UTC)
    spread_to_end = history.spreading(end)
    for minutes in (0, 5, 20, 21, 60, 80, 200, 60 * 24 * 40):
        start = end - timedelta(minutes=minutes)
        for nbytes in (0, 1, 999, 10**9):
            assert spread_to_end(nbytes, start) == history.spread(nbytes, start, end)
