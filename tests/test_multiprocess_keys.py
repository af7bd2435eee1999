"""Two real ``main.py serve`` processes on one PostgreSQL never lose an update of a key;
a second serving process on one SQLite file is refused."""

import asyncio
import os
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from db.models import KeyState, VPNKey, VPNServer
from domain import audit
from domain.accounts import tokens, users
from domain.accounts.users import UserProfile
from domain.context import Context
from domain.keys import issuing
from tests.checks import assert_consistent
from tests.conftest import ON_POSTGRES
from tests.serve_fixtures import ROOT, Cluster, start_serving, until_serving

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="several serving processes")
ROUNDS = 20
PARALLEL = 10
OWNER, OTHER = 100, 200


@pytest.fixture
async def api_token(server: VPNServer) -> str:
    for tg_id in (OWNER, OTHER):
        await users.upsert_user(UserProfile(id=tg_id), actor=audit.CLI)
    _, plaintext = await tokens.create_token("multiprocess", actor=audit.CLI)
    return plaintext


async def new_key(cluster: Cluster, n: int, **fields: object) -> dict:
    status, data = await cluster.call(
        n, "POST", "/api/vpn_token/alpha/", {"command": "create_new_token", **fields}
    )
    assert status == 201, data
    return data["vpn_keys"][0]


def refresh(cluster: Cluster, n: int, key_id: int):
    body = {"command": "refresh_token"}
    return cluster.call(n, "POST", f"/api/vpn_token/{key_id}/refresh/alpha/", body)


@needs_postgres
async def test_parallel_refreshes_make_exactly_one_new_key(
    cluster_of_two: Cluster, server: VPNServer, outline_server
) -> None:
    for round_ in range(ROUNDS):
        old = await new_key(cluster_of_two, round_, tg_id=OWNER)
        answers = await asyncio.gather(
            *(refresh(cluster_of_two, n, old["id"]) for n in range(PARALLEL))
        )
        assert Counter(status for status, _ in answers) == {201: 1, 409: PARALLEL - 1}
        (new,) = [data["vpn_keys"][0] for status, data in answers if status == 201]
        live = await VPNKey.filter(owner_id=OWNER, state=KeyState.LIVE)
        assert [key.id for key in live] == [new["id"]]
        await assert_consistent(server, outline_server.emulator)
        await VPNKey.filter(id=new["id"]).update(state=KeyState.DELETED)
        del outline_server.emulator.keys[live[0].remote_id]


@needs_postgres
async def test_refresh_racing_delete_has_one_winner(
    cluster_of_two: Cluster, server: VPNServer, outline_server
) -> None:
    wins: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        old = await new_key(cluster_of_two, round_, tg_id=OWNER)
        path = f"/api/vpn_token/{old['id']}/alpha/"
        (r_status, r_data), (d_status, _) = await asyncio.gather(
            refresh(cluster_of_two, round_, old["id"]),
            cluster_of_two.call(round_ + 1, "DELETE", path),
        )
        live = await VPNKey.filter(owner_id=OWNER, state=KeyState.LIVE)
        if d_status == 200:
            assert r_status == 409 and live == []
            wins["delete"] += 1
        else:
            assert (r_status, d_status) == (201, 409)
            assert [key.id for key in live] == [r_data["vpn_keys"][0]["id"]]
            wins["refresh"] += 1
            await VPNKey.filter(id=live[0].id).update(state=KeyState.DELETED)
            del outline_server.emulator.keys[live[0].remote_id]
        await assert_consistent(server, outline_server.emulator)
    assert sum(wins.values()) == ROUNDS


@needs_postgres
async def test_two_binds_without_force_give_one_200_and_one_409(
    cluster_of_two: Cluster,
) -> None:
    for round_ in range(ROUNDS):
        key = await new_key(cluster_of_two, round_)
        body = {"command": "add_user_to_token"}
        answers = await asyncio.gather(
            *(
                cluster_of_two.call(
                    round_ + n, "PATCH", f"/api/vpn_token/{key['id']}/user/{tg_id}/alpha/", body
                )
                for n, tg_id in enumerate((OWNER, OTHER))
            )
        )
        assert sorted(status for status, _ in answers) == [200, 409]
        (winner,) = [data["vpn_keys"][0]["tg_id"] for status, data in answers if status == 200]
        assert (await VPNKey.get(id=key["id"])).owner_id == winner


@needs_postgres
async def test_parallel_extensions_add_up_exactly(cluster_of_two: Cluster) -> None:
    for round_ in range(ROUNDS):
        key = await new_key(cluster_of_two, round_, tg_id=OWNER, days=30)
        path = f"/api/vpn_token/{key['id']}/alpha/"
        body = {"command": "token_valid_date", "days": 1}
        answers = await asyncio.gather(
            *(cluster_of_two.call(n, "PATCH", path, body) for n in range(PARALLEL))
        )
        assert [status for status, _ in answers] == [200] * PARALLEL
        start = datetime.fromisoformat(key["valid_until"])
        stored = await VPNKey.get(id=key["id"])
        assert stored.valid_until == start + timedelta(days=PARALLEL)


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only")
async def test_a_second_serving_process_on_one_sqlite_file_is_refused_a_command_is_not(
    database_url: str, tmp_path: Path, ctx: Context, server: VPNServer
) -> None:
    await issuing.create_key(ctx, server="alpha", actor=audit.CLI)  # for reconcile to lock
    first = start_serving(database_url, tmp_path / "first.log")
    try:
        await until_serving(first)
        second = start_serving(database_url, tmp_path / "second.log")
        assert await asyncio.to_thread(second.proc.wait, 30) == 1
        lines = second.log.read_text().strip().splitlines()
        assert len(lines) == 1 and "another process already serves" in lines[0], lines
        assert first.proc.poll() is None
        env = {**os.environ, "DATABASE_URL": database_url}
        reconcile = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "reconcile", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await reconcile.communicate()
        assert reconcile.returncode == 0, err  # one-shot commands still run beside it
        assert b"alpha: repaired 0 unfinished" in out
    finally:
        first.stop()
