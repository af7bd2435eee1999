"""Draining a server: every live key moves, balanced by keys; faults and a kill -9 mid-drain
leave nothing lost, no orphan, and every dynamic link answering."""

import asyncio
import os
import random
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.app_keys import CONTEXT
from db.models import KeyState, VPNKey
from domain import audit
from domain.keys import issuing
from domain.servers import registry
from domain.servers.drain import drain_server
from tests.api_fixtures import Api
from tests.link_fixtures import assert_consistent
from vpn.emulator import OutlineEmulator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def servers(
    link_api: Api, link_beta: OutlineEmulator, link_gamma: OutlineEmulator
) -> dict[str, OutlineEmulator]:
    link_api.client.app[CONTEXT].stale_after = timedelta(0)
    return {"alpha": link_api.emulator, "beta": link_beta, "gamma": link_gamma}


async def keys_on(server: str, n: int, api: Api) -> list[int]:
    ctx = api.client.app[CONTEXT]
    made = [
        await issuing.create_key(ctx, server=server, name=f"k{i}", actor="t") for i in range(n)
    ]
    return [key.id for key in made]


async def placement() -> Counter[str]:
    rows = await VPNKey.filter(state=KeyState.LIVE).select_related("server")
    return Counter(key.server.name for key in rows)


async def test_a_drain_moves_every_key_to_the_least_loaded_servers(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    await keys_on("alpha", 10, link_api)
    await keys_on("beta", 4, link_api)
    seen: list[tuple[int, int]] = []
    report = await drain_server(
        link_api.client.app[CONTEXT], name="alpha", actor=audit.CLI,
        progress=lambda done, total: seen.append((done, total)),
    )  # fmt: skip
    assert report.complete and report.moved == {"beta": 3, "gamma": 7} and not report.failed
    assert await placement() == {"beta": 7, "gamma": 7}
    assert seen[-1] == (10, 10) and len(seen) == 10
    assert not (await registry.get_server("alpha")).is_active
    await assert_consistent(link_api, servers)


async def test_a_drain_to_named_servers_uses_only_those(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    await keys_on("alpha", 3, link_api)
    ctx = link_api.client.app[CONTEXT]
    report = await drain_server(ctx, name="alpha", actor=audit.CLI, targets=["gamma"])
    assert report.moved == {"gamma": 3} and await placement() == {"gamma": 3}


async def test_a_target_that_stops_answering_is_left_out_and_the_rest_move(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    await keys_on("alpha", 6, link_api)
    servers["beta"].faults.fail_next(100, method="PUT")
    report = await drain_server(link_api.client.app[CONTEXT], name="alpha", actor=audit.CLI)
    assert report.complete and report.moved == {"gamma": 6} and not report.failed
    await assert_consistent(link_api, servers)


async def test_a_drain_under_random_faults_is_completed_by_running_it_again(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    await keys_on("alpha", 12, link_api)
    rng = random.Random(7)
    for name in ("alpha", "beta", "gamma"):
        for _ in range(4):
            fault = rng.choice(["fail_next", "drop_next"])
            getattr(servers[name].faults, fault)(method=rng.choice(["PUT", "DELETE", "GET"]))
    ctx = link_api.client.app[CONTEXT]
    first = await drain_server(ctx, name="alpha", actor=audit.CLI)
    for emulator in servers.values():
        emulator.faults.clear()
    second = await drain_server(ctx, name="alpha", actor=audit.CLI)
    assert second.complete and first.moved.total() + second.moved.total() == 12
    await assert_consistent(link_api, servers)
    await registry.set_server_active("alpha", True, actor="t")
    await assert_consistent(link_api, servers)


async def test_a_dead_server_is_drained_without_being_called(
    link_api: Api, servers: dict[str, OutlineEmulator]
) -> None:
    await keys_on("alpha", 4, link_api)
    servers["alpha"].faults.fail_next(1000)
    ctx = link_api.client.app[CONTEXT]
    report = await drain_server(ctx, name="alpha", actor=audit.CLI, source_down=True)
    assert report.complete and report.moved.total() == 4
    assert len(servers["alpha"].keys) == 4  # its copies wait for it to answer again
    servers["alpha"].faults.clear()
    await registry.set_server_active("alpha", True, actor="t")
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys


async def test_the_last_server_cannot_be_drained(link_api: Api) -> None:
    await keys_on("alpha", 1, link_api)
    with pytest.raises(Exception, match="no other active server"):
        await drain_server(link_api.client.app[CONTEXT], name="alpha", actor=audit.CLI)
    assert (await registry.get_server("alpha")).is_active


async def run_drain(database_url: str, *extra: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "DATABASE_URL": database_url, "OUTLINE_TIMEOUT_SECONDS": "5"}
    env.pop("BOT_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "server", "drain", "alpha", *extra,
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_a_drain_killed_mid_way_is_finished_by_the_next_run(
    link_api: Api, servers: dict[str, OutlineEmulator], database_url: str
) -> None:
    await keys_on("alpha", 30, link_api)
    for name in ("beta", "gamma"):  # slow creates, so the kill lands mid-drain
        servers[name].faults.hang_next(1000, seconds=0.15, method="PUT")
    proc = await run_drain(database_url)
    alpha = await registry.get_server("alpha")
    for _ in range(600):
        await asyncio.sleep(0.05)
        if await VPNKey.filter(state=KeyState.LIVE).exclude(server=alpha).count() >= 8:
            break
    proc.kill()  # SIGKILL: no cleanup of any kind
    await proc.wait()
    assert 0 < await VPNKey.filter(server=alpha, state=KeyState.LIVE).count() < 30
    for emulator in servers.values():
        emulator.faults.clear()
    # The killed process's key lease runs out (within LEASE_SECONDS): as if that long passed.
    await VPNKey.filter(lock_holder__isnull=False).update(lock_expires_at=datetime.now(UTC))
    rerun = await run_drain(database_url)
    out, err = await rerun.communicate()
    assert rerun.returncode == 0, err.decode()
    assert "0 failed, 0 left" in out.decode() and "draining alpha" in err.decode()
    assert await placement() == {"beta": 15, "gamma": 15}
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys


async def test_the_cli_drains_only_to_the_servers_named_with_to(
    link_api: Api, servers: dict[str, OutlineEmulator], database_url: str
) -> None:
    await keys_on("alpha", 3, link_api)
    out, err = await (await run_drain(database_url, "--to", "gamma")).communicate()
    assert out.decode().startswith("alpha: 3 moved (gamma 3), 0 failed, 0 left;"), err.decode()
    assert await placement() == {"gamma": 3} and not servers["beta"].keys
    assert not (await registry.get_server("alpha")).is_active
    await assert_consistent(link_api, servers)
    refused = await run_drain(database_url, "--to", "alpha")
    _, err = await refused.communicate()
    assert refused.returncode != 0 and "cannot take its own keys" in err.decode()


async def test_the_cli_drains_a_dead_server_without_calling_it_with_source_down(
    link_api: Api, servers: dict[str, OutlineEmulator], database_url: str
) -> None:
    await keys_on("alpha", 2, link_api)
    servers["alpha"].faults.fail_next(1000)
    proc = await run_drain(database_url, "--source-down")
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().startswith("alpha: 2 moved (beta 1, gamma 1), 0 failed, 0 left;")
    assert servers["alpha"].faults.rules[0].remaining == 1000  # not one call reached alpha
    assert len(servers["alpha"].keys) == 2  # its copies wait for it to answer again
    servers["alpha"].faults.clear()
    await registry.set_server_active("alpha", True, actor="t")
    await assert_consistent(link_api, servers)
    assert not servers["alpha"].keys
