"""Lost answers (the server acted, then the connection dropped or the answer came too late):
every answer matches the server's state afterwards, with no reconcile run."""

import asyncio
import logging
from typing import Any

import pytest

from api.app_keys import CONTEXT
from db.models import KeyState, VPNKey, VPNServer
from domain.keys import outcomes
from domain.keys.reconcile import reconcile
from tests.api_fixtures import Api
from tests.checks import assert_consistent
from vpn.emulator import KeyRecord

HANG = 1.5  # longer than the app's 1 s Outline timeout
LOST = ["drop", "hang"]


def lose(api: Api, fault: str, *, method: str, path: str, n: int = 1) -> None:
    """The next ``n`` matching calls act, and their answer is lost."""
    if fault == "drop":
        api.emulator.faults.drop_next(n, method=method, path_contains=path)
    else:
        api.emulator.faults.hang_next(n, HANG, method=method, path_contains=path)


def unreadable(api: Api) -> None:
    """The server stops answering reads of single keys."""
    api.emulator.faults.fail_next(20, 503, method="GET", path_contains="/access-keys/")


async def settled(api: Api) -> None:
    """Wait until every hung call has acted; the database and server must then agree."""
    await asyncio.sleep(HANG)
    api.emulator.faults.clear()
    await assert_consistent(await VPNServer.get(name="alpha"), api.emulator)


async def on_server(api: Api, key: dict[str, Any]) -> KeyRecord | None:
    return api.emulator.keys.get((await VPNKey.get(id=key["id"])).remote_id)


def key_path(key: dict[str, Any]) -> str:
    return f"/api/vpn_token/{key['id']}/alpha/"


@pytest.mark.parametrize("fault", LOST)
async def test_a_create_whose_answer_was_lost_answers_the_created_key(api: Api, fault) -> None:
    lose(api, fault, method="PUT", path="/access-keys/")
    body = {"command": "create_new_token", "name": "n"}
    (key,) = (await api.call("POST", "/api/vpn_token/alpha/", body, expect=201))["vpn_keys"]
    await settled(api)
    record = await on_server(api, key)
    assert record is not None and record.access_url == key["access_url"]


@pytest.mark.parametrize("fault", LOST)
async def test_a_cut_key_whose_create_answer_was_lost_is_cut_on_the_server_too(
    api: Api, fault
) -> None:
    lose(api, fault, method="PUT", path="/access-keys/")
    body = {"command": "create_new_token", "name": "n", "traffic_limit": 0}
    (key,) = (await api.call("POST", "/api/vpn_token/alpha/", body, expect=201))["vpn_keys"]
    await settled(api)
    record = await on_server(api, key)
    assert record is not None and record.limit == 0
    assert api.emulator.is_blocked(record.id)  # the limit was set again, so Outline applied it


@pytest.mark.parametrize("fault", LOST)
async def test_a_demo_whose_answer_was_lost_answers_the_demo_key(api: Api, fault) -> None:
    await api.user(42)
    lose(api, fault, method="PUT", path="/access-keys/")
    body = {"command": "create_demo_token"}
    (key,) = (await api.call("POST", "/api/vpn_token/42/alpha/", body, expect=201))["vpn_keys"]
    await settled(api)
    assert (await on_server(api, key)) is not None
    assert (await api.call("GET", "/api/user/42/", expect=200))["user"]["has_demo"] is True


@pytest.mark.parametrize("fault", LOST)
@pytest.mark.parametrize("step", ["create the new key", "delete the old key"])
async def test_a_refresh_whose_answer_was_lost_answers_the_new_key(
    api: Api, fault: str, step: str
) -> None:
    old = await api.new_key(traffic_limit=1000)
    old_remote = (await VPNKey.get(id=old["id"])).remote_id
    if step == "create the new key":
        lose(api, fault, method="PUT", path="/access-keys/")
    else:
        lose(api, fault, method="DELETE", path=old_remote)
    path = f"/api/vpn_token/{old['id']}/refresh/alpha/"
    (new,) = (await api.call("POST", path, {"command": "refresh_token"}, expect=201))["vpn_keys"]
    await settled(api)
    assert old_remote not in api.emulator.keys
    record = await on_server(api, new)
    assert record is not None and record.access_url == new["access_url"]


@pytest.mark.parametrize("fault", LOST)
async def test_a_delete_whose_answer_was_lost_answers_deleted(api: Api, fault) -> None:
    key = await api.new_key()
    remote_id = (await VPNKey.get(id=key["id"])).remote_id
    lose(api, fault, method="DELETE", path=remote_id)
    await api.call("DELETE", key_path(key), expect=200)
    await settled(api)
    assert remote_id not in api.emulator.keys


CHANGES = [
    ({"command": "token_name", "name": "renamed"}, "/name", lambda r: r.name == "renamed"),
    ({"command": "token_traffic_limit", "traffic_limit": 5}, "/data-limit", lambda r: r.limit < 9),
    ({"command": "token_is_active", "is_active": False}, "/data-limit", lambda r: r.limit == 0),
]


@pytest.mark.parametrize("fault", LOST)
@pytest.mark.parametrize(("body", "remote_path", "applied"), CHANGES)
async def test_a_change_whose_answer_was_lost_answers_changed(
    api: Api, fault: str, body, remote_path: str, applied
) -> None:
    key = await api.new_key(name="old", traffic_limit=1000)
    lose(api, fault, method="PUT", path=remote_path)
    await api.call("PATCH", key_path(key), body, expect=200)
    await settled(api)
    assert applied(await on_server(api, key))


async def test_every_answer_lost_and_reads_failing_leaves_no_key_and_the_trial(api: Api) -> None:
    await api.user(42)
    lose(api, "drop", method="PUT", path="/access-keys/", n=outcomes.ATTEMPTS)
    unreadable(api)
    body = {"command": "create_demo_token"}
    await api.call("POST", "/api/vpn_token/42/alpha/", body, expect=504)
    await settled(api)  # the key the server made was deleted again at once
    assert not await VPNKey.filter(state=KeyState.LIVE).exists()
    await api.call("POST", "/api/vpn_token/42/alpha/", body, expect=201)


async def test_an_unconfirmable_delete_of_the_old_key_keeps_the_new_key(api: Api) -> None:
    old = await api.new_key()
    old_remote = (await VPNKey.get(id=old["id"])).remote_id
    lose(api, "hang", method="DELETE", path=old_remote, n=outcomes.ATTEMPTS)
    unreadable(api)
    path = f"/api/vpn_token/{old['id']}/refresh/alpha/"
    (new,) = (await api.call("POST", path, {"command": "refresh_token"}, expect=201))["vpn_keys"]
    await settled(api)
    assert (await on_server(api, new)) is not None and old_remote not in api.emulator.keys


async def test_a_refresh_the_server_never_answers_leaves_the_old_key_working(api: Api) -> None:
    old = await api.new_key(traffic_limit=1000)
    old_remote = (await VPNKey.get(id=old["id"])).remote_id
    api.emulator.faults.hang_before_next(
        outcomes.ATTEMPTS, HANG, method="DELETE", path_contains=old_remote
    )
    path = f"/api/vpn_token/{old['id']}/refresh/alpha/"
    await api.call("POST", path, {"command": "refresh_token"}, expect=504)
    await settled(api)
    record = api.emulator.keys[old_remote]
    assert record.access_url == old["access_url"] and record.limit == 1000
    live = await VPNKey.filter(state=KeyState.LIVE)
    assert [key.id for key in live] == [old["id"]]


async def test_an_unconfirmable_delete_is_finished_by_the_reconciler_never_undone(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    key = await api.new_key()
    remote_id = (await VPNKey.get(id=key["id"])).remote_id
    api.emulator.faults.hang_before_next(
        outcomes.ATTEMPTS, HANG, method="DELETE", path_contains=remote_id
    )
    unreadable(api)
    answer = await api.call("DELETE", key_path(key), expect=200)
    assert answer["details"] == f"key {key['id']} deleted"  # here; the server's copy follows
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        f"server alpha did not confirm deleting key {remote_id}, nor answer whether it holds "
        "it; a key left there is deleted by the reconciler"
    ) in warned
    await asyncio.sleep(HANG)
    api.emulator.faults.clear()
    assert remote_id in api.emulator.keys  # the server never acted
    (report,) = await reconcile(api.client.app[CONTEXT])
    assert report.orphans_deleted == [remote_id] and report.recreated == []
    assert remote_id not in api.emulator.keys
