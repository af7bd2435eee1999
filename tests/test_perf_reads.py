"""The hot reads are one database query each (the token cached); the service runs on uvloop
unless ``UVLOOP`` is off, and writes no access log with ``ACCESS_LOG`` off."""

import asyncio
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import uvloop

from api.eventloop import loop_factory
from db import reads
from domain.settings import Settings
from tests.api_fixtures import Api
from tests.conftest import ON_POSTGRES
from tests.serve_fixtures import start_serving, until_serving


async def test_reading_a_user_is_one_query_once_the_token_is_cached(
    api: Api, trips: list[str]
) -> None:
    await api.user(7)
    await api.call("GET", "/api/user/7/", expect=200)
    trips.clear()
    data = await api.call("GET", "/api/user/7/", expect=200)
    assert data["user"]["id"] == 7
    assert trips == ["fetch"]


async def test_reading_a_users_keys_on_a_server_is_one_query(api: Api, trips: list[str]) -> None:
    await api.user(7)
    await api.new_key(tg_id=7)
    await api.new_key(tg_id=7)
    trips.clear()
    data = await api.call("GET", "/api/user/7/vpn_keys/alpha/", expect=200)
    assert [key["tg_id"] for key in data["vpn_keys"]] == [7, 7]
    assert trips == ["fetch"]


async def test_an_unknown_user_or_server_is_still_one_query(api: Api, trips: list[str]) -> None:
    await api.user(7)
    await api.call("GET", "/api/user/7/vpn_keys/alpha/", expect=200)
    trips.clear()
    await api.call("GET", "/api/user/8/vpn_keys/alpha/", expect=404)
    await api.call("GET", "/api/user/7/vpn_keys/nowhere/", expect=404)
    assert trips == ["fetch", "fetch"]


def test_the_event_loop_is_uvloops_unless_turned_off() -> None:
    assert loop_factory(Settings(_env_file=None)) is uvloop.new_event_loop
    assert loop_factory(Settings(_env_file=None, uvloop=False)) is asyncio.new_event_loop


async def test_with_the_access_log_off_serving_writes_no_request_line(
    database_url: str, tmp_path: Path
) -> None:
    env = {"LOG_LEVEL": "INFO", "ACCESS_LOG": "false", "UVLOOP": "false"}
    served = start_serving(database_url, tmp_path / "serve.log", **env)
    try:
        await until_serving(served)
        async with (
            aiohttp.ClientSession() as session,
            session.get(served.base + "/api/user/1/") as resp,
        ):
            assert resp.status == 401
    finally:
        served.stop()
    log = served.log.read_text()
    assert "serving on the asyncio event loop" in log
    assert "/healthz" not in log and "/api/user/" not in log


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL only")
async def test_a_pooled_connection_goes_back_without_a_reset_round_trip(db: str) -> None:
    await reads.fetch("SELECT 4242 AS probe")
    server = await asyncpg.connect(db.replace("postgres://", "postgresql://"))
    try:
        seen = await server.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await server.close()
    last = [row["query"] for row in seen]  # each pooled backend's last statement
    assert "SELECT 4242 AS probe" in last
    assert not [query for query in last if "RESET ALL" in query]
