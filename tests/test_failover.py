"""The health watch: state in the database, one alert each way, and failover of a server
that stays down (its keys' dynamic links then answer a healthy server)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from api.app_keys import CONTEXT
from db.models import AuditEvent, KeyState, Notice, VPNKey
from domain.accounts import users
from domain.accounts.users import UserProfile
from domain.keys import issuing
from domain.servers import alerts, registry
from domain.servers.health import DOWN_AFTER, fail_over, watch_servers
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent, fetch_tunnel, static_tunnel
from tests.worker_fixtures import FakeClock
from vpn.emulator import OutlineEmulator

ADMINS = frozenset({900, 901})  # 901 never talked to the bot


@pytest.fixture
async def clock(link_api: Api, link_beta: OutlineEmulator) -> FakeClock:
    """Time under the test's control; admin 900 is registered."""
    await users.upsert_user(UserProfile(id=900, first_name="Root"), actor="t")
    fake = FakeClock(datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1))
    link_api.client.app[CONTEXT].clock = fake.now
    link_api.client.app[CONTEXT].stale_after = timedelta(0)
    return fake


async def watch(api: Api, rounds: int = 1) -> None:
    for _ in range(rounds):
        await watch_servers(api.client.app[CONTEXT], ADMINS)


async def alerts_sent() -> list[tuple[str, int, str]]:
    kinds = [alerts.SERVER_DOWN, alerts.SERVER_UP, alerts.FAILOVER]
    rows = await Notice.filter(kind__in=kinds).order_by("id")
    return [(n.kind, n.user_id or 0, n.payload["server"]) for n in rows]


async def test_a_server_down_for_a_while_alerts_once_and_once_more_when_it_is_back(
    link_api: Api, clock: FakeClock
) -> None:
    await watch(link_api, 3)
    link_api.emulator.faults.fail_next(100)
    await watch(link_api, DOWN_AFTER - 1)
    assert (await registry.get_server("alpha")).reachable and not await alerts_sent()
    await watch(link_api)
    down_at = clock.now()
    clock.advance(minutes=7)
    await watch(link_api, 5)
    alpha = await registry.get_server("alpha")
    assert not alpha.reachable and alpha.down_since == down_at
    assert await alerts_sent() == [("server_down", 900, "alpha")]
    link_api.emulator.faults.clear()
    await watch(link_api, 3)
    alpha = await registry.get_server("alpha")
    assert alpha.reachable and alpha.up_since == clock.now() and alpha.failed_checks == 0
    up = await Notice.get(kind=alerts.SERVER_UP)
    assert up.payload["down_for"] == 7 * 60
    assert await alerts_sent() == [("server_down", 900, "alpha"), ("server_up", 900, "alpha")]
    actions = await AuditEvent.filter(action__startswith="server.").values_list(
        "action", flat=True
    )
    assert [a for a in actions if a in ("server.down", "server.up")] == [
        "server.down",
        "server.up",
    ]


async def test_several_watchers_at_once_record_one_transition(
    link_api: Api, clock: FakeClock
) -> None:
    link_api.emulator.faults.fail_next(100)
    ctx = link_api.client.app[CONTEXT]
    for _ in range(3):
        await asyncio.gather(*(watch_servers(ctx, ADMINS) for _ in range(4)))
    assert await alerts_sent() == [("server_down", 900, "alpha")]


async def test_failover_moves_the_keys_of_a_server_down_too_long_and_links_follow(
    link_api: Api, link_beta: OutlineEmulator, clock: FakeClock
) -> None:
    ctx = link_api.client.app[CONTEXT]
    keys = [
        await issuing.create_key(ctx, server="alpha", name=f"k{i}", actor="t") for i in range(3)
    ]
    link_api.emulator.faults.fail_next(1000)
    await watch(link_api, DOWN_AFTER)
    clock.advance(minutes=4)
    assert await fail_over(ctx, ADMINS, timedelta(minutes=5)) == []
    clock.advance(minutes=2)
    [report] = await fail_over(ctx, ADMINS, timedelta(minutes=5))
    assert report.moved == {"beta": 3} and report.complete
    assert (await registry.get_server("alpha")).is_active  # watched, reconciled when back
    for key in keys:
        moved = await VPNKey.get(id=key.id).select_related("server")
        assert moved.server.name == "beta" and moved.state == KeyState.LIVE
        tunnel = await fetch_tunnel(link_api.client, ctx.links.url(moved) if ctx.links else "")
        assert tunnel == static_tunnel(moved.access_url or "")
    failover = await Notice.get(kind=alerts.FAILOVER)
    assert failover.user_id == 900 and failover.payload["moved"] == {"beta": 3}
    assert len(link_api.emulator.keys) == 3  # the dead server's copies, until it answers
    link_api.emulator.faults.clear()
    await watch(link_api)
    await assert_consistent(link_api, {"alpha": link_api.emulator, "beta": link_beta})
    assert not link_api.emulator.keys


async def test_failover_does_nothing_without_dynamic_links(
    link_api: Api, clock: FakeClock
) -> None:
    ctx = link_api.client.app[CONTEXT]
    await issuing.create_key(ctx, server="alpha", name="k", actor="t")
    link_api.emulator.faults.fail_next(1000)
    await watch(link_api, DOWN_AFTER)
    clock.advance(hours=1)
    ctx.links = None
    assert await fail_over(ctx, ADMINS, timedelta(minutes=5)) == []


async def test_new_keys_on_auto_avoid_a_server_that_is_down(
    link_api: Api, link_beta: OutlineEmulator, clock: FakeClock
) -> None:
    ctx = link_api.client.app[CONTEXT]
    await issuing.create_key(ctx, server="beta", name="b", actor="t")
    assert (
        await issuing.create_key(ctx, server="auto", name="a", actor="t")
    ).server.name == "alpha"
    link_api.emulator.faults.fail_next(1000)
    await watch(link_api, DOWN_AFTER)
    key = await issuing.create_key(ctx, server="auto", name="c", actor="t")
    assert key.server.name == "beta"
