"""The emulator answers like a real Outline server: statuses, error bodies, quirks, usage."""

import base64
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from vpn.emulator import OutlineEmulator, RunningEmulator, build_app, start_emulator
from vpn.emulator.state import ENFORCEMENT_SECONDS

DAY = 86400.0
JSON = {"Content-Type": "application/json"}


class Api:
    """Raw HTTP calls to an emulator, relative to its secret ``api_url``."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def __call__(
        self, method: str, path: str, body: Any = None, *, raw: str | None = None
    ) -> tuple[int, Any]:
        """``(status, decoded JSON or None)``; ``raw`` sends a body without a content type."""
        kwargs: dict[str, Any] = {"data": raw} if raw is not None else {"json": body}
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            return resp.status, (await resp.json()) if text else None


@pytest.fixture
async def api(outline_server: RunningEmulator) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, outline_server.api_url)


@pytest.fixture
def emu(outline_server: RunningEmulator) -> OutlineEmulator:
    return outline_server.emulator


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- routing and bodies ---------------------------------------------------------------------


async def test_wrong_prefix_is_resource_not_found(
    api: Api, outline_server: RunningEmulator
) -> None:
    root = outline_server.api_url.removesuffix(outline_server.prefix)
    async with api.session.get(root + "/not-the-secret/server") as resp:
        assert resp.status == 404
        assert (await resp.json())["code"] == "ResourceNotFound"
    assert outline_server.emulator.calls == []


async def test_unknown_route_is_not_found_and_wrong_method_not_allowed(api: Api) -> None:
    status, body = await api("GET", "/nothing-here")
    assert (status, body["code"]) == (404, "ResourceNotFound")
    status, body = await api("POST", "/server", {})
    assert (status, body["code"]) == (405, "MethodNotAllowed")


async def test_body_without_json_content_type_is_ignored(api: Api) -> None:
    status, key = await api("POST", "/access-keys", raw='{"name": "Alice"}')
    assert status == 201
    assert key["name"] == ""


async def test_malformed_json_is_invalid_content(api: Api) -> None:
    async with api.session.post(api.base + "/access-keys", data="{", headers=JSON) as resp:
        assert resp.status == 400
        assert (await resp.json())["code"] == "InvalidContent"


async def send(api: Api, method: str, path: str, raw: str, ctype: str = "application/json") -> Any:
    """``(status, JSON)`` of a request with a body sent exactly as given."""
    headers = {"Content-Type": ctype}
    async with api.session.request(method, api.base + path, data=raw, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_bodies_are_mapped_onto_params_as_restify_maps_them(api: Api) -> None:
    assert (await send(api, "PUT", "/access-keys/a", "[1]"))[1]["code"] == "InternalServer"
    assert (await send(api, "POST", "/access-keys", "[1]"))[0] == 201
    assert (await send(api, "PUT", "/access-keys/b", '"text"'))[1]["code"] == "MissingParameter"
    assert (await send(api, "PUT", "/access-keys/c", "null"))[0] == 201
    status, key = await send(api, "PUT", "/access-keys/d", '{"id": "e", "name": "n"}')
    assert (status, key["id"], key["name"]) == (201, "d", "n")
    status, key = await send(api, "PUT", "/access-keys/f", '{"name": "v"}', "application/x.y+json")
    assert key["name"] == "v"


async def test_paths_are_cleaned_up_and_405_lists_the_allowed_methods(api: Api) -> None:
    assert (await api("GET", "//server//"))[0] == 200
    async with api.session.patch(api.base + "/access-keys/x") as resp:
        assert (resp.status, resp.headers["Allow"]) == (405, "DELETE, GET, PUT")


async def test_the_former_experimental_limit_path_redirects(
    api: Api, outline_server: RunningEmulator
) -> None:
    path = "/experimental/access-key-data-limit"
    for method in ("PUT", "DELETE"):
        url = api.base + path
        async with api.session.request(method, url, json={}, allow_redirects=False) as resp:
            assert resp.status == 308
            assert (
                resp.headers["Location"] == outline_server.prefix + "/server/access-key-data-limit"
            )
    assert (await api("GET", path))[0] == 405


async def test_null_limits_are_server_errors_as_on_shadowbox(api: Api) -> None:
    await api("PUT", "/access-keys/1", {})
    null = {"limit": None}
    assert (await api("PUT", "/access-keys/2", null))[1]["code"] == "InternalServer"
    assert (await api("PUT", "/access-keys/1/data-limit", null))[1]["code"] == "Internal"
    assert (await api("PUT", "/server/access-key-data-limit", null))[1]["code"] == "InternalServer"


async def test_calls_are_recorded_relative_to_the_prefix(api: Api, emu: OutlineEmulator) -> None:
    await api("GET", "/server")
    await api("PUT", "/access-keys/x", {"name": "n"})
    assert emu.calls == [("GET", "/server"), ("PUT", "/access-keys/x")]


# --- server settings ------------------------------------------------------------------------


async def test_server_reports_its_settings(api: Api, emu: OutlineEmulator) -> None:
    status, info = await api("GET", "/server")
    assert status == 200
    assert info["serverId"] == emu.server_id
    assert info["version"] == "1.12.0"
    assert info["hostnameForAccessKeys"] == "127.0.0.1"
    assert "accessKeyDataLimit" not in info
    assert {"name", "metricsEnabled", "createdTimestampMs", "portForNewAccessKeys"} <= set(info)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "MissingParameter"),
        ({"name": ""}, 400, "MissingParameter"),
        ({"name": 5}, 409, "InvalidArgument"),
        ({"name": "x" * 101}, 409, "InvalidArgument"),
        ({"name": "😀" * 51}, 409, "InvalidArgument"),  # 102 UTF-16 code units
    ],
)
async def test_bad_server_names_are_refused(api: Api, body: Any, status: int, code: str) -> None:
    answer, error = await api("PUT", "/name", body)
    assert (answer, error["code"]) == (status, code)


async def test_server_can_be_renamed(api: Api) -> None:
    assert (await api("PUT", "/name", {"name": "x" * 100}))[0] == 204
    assert (await api("GET", "/server"))[1]["name"] == "x" * 100


async def test_hostname_applies_to_existing_keys_only_after_restart(
    api: Api, emu: OutlineEmulator
) -> None:
    _, old = await api("PUT", "/access-keys/1", {})
    assert (await api("PUT", "/server/hostname-for-access-keys", {"hostname": "vpn.example"}))[
        0
    ] == 204
    assert (await api("PUT", "/server/hostname-for-access-keys", {"hostname": "-bad-"}))[0] == 400
    _, new = await api("PUT", "/access-keys/2", {})
    assert "@127.0.0.1:" in old["accessUrl"] and "@vpn.example:" in new["accessUrl"]
    assert (await api("GET", "/access-keys/1"))[1]["accessUrl"] == old["accessUrl"]
    emu.restart()
    assert "@vpn.example:" in (await api("GET", "/access-keys/1"))[1]["accessUrl"]


async def test_port_for_new_keys_is_checked(
    api: Api, emu: OutlineEmulator, outline_server: RunningEmulator
) -> None:
    path = "/server/port-for-new-access-keys"
    for body in ({}, {"port": "1"}, {"port": None}, {"port": 0}, {"port": 70000}):
        assert (await api("PUT", path, body))[0] == 400, body
    in_use = int(outline_server.api_url.split(":")[2].split("/")[0])  # the emulator's own
    status, error = await api("PUT", path, {"port": in_use})
    assert (status, error["code"]) == (409, "Conflict")
    assert (await api("POST", "/access-keys", {"port": in_use}))[0] == 409
    emu.busy_ports.add(free := free_port())
    assert (await api("PUT", path, {"port": free}))[0] == 409
    emu.busy_ports.clear()
    assert (await api("PUT", path, {"port": free}))[0] == 204
    assert (await api("POST", "/access-keys", {}))[1]["port"] == free
    emu.busy_ports.add(free)  # a port its keys use is never refused
    assert (await api("PUT", path, {"port": free}))[0] == 204


def free_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_hostnames_are_checked_as_shadowbox_checks_them(api: Api) -> None:
    path = "/server/hostname-for-access-keys"
    for bad in (None, 5, "", "-bad.example", "1.2.3.4:80", "ex_ample.com"):
        assert (await api("PUT", path, {"hostname": bad}))[0] == 400, bad
    assert (await api("PUT", path, {}))[1]["code"] == "MissingParameter"
    assert (await api("PUT", path, {"hostname": "an 10.0.0.1 in text"}))[0] == 204
    assert (await api("PUT", path, {"hostname": "::1"}))[0] == 204
    _, key = await api("PUT", "/access-keys/6", {})
    assert f"@[0:0:0:0:0:0:0:1]:{key['port']}/" in key["accessUrl"]


async def test_metrics_sharing_can_be_read_and_set(api: Api) -> None:
    assert await api("GET", "/metrics/enabled") == (200, {"metricsEnabled": False})
    assert (await api("PUT", "/metrics/enabled", {"metricsEnabled": True}))[0] == 204
    assert (await api("PUT", "/metrics/enabled", {"metricsEnabled": "yes"}))[0] == 400
    assert await api("GET", "/metrics/enabled") == (200, {"metricsEnabled": True})


# --- access keys ----------------------------------------------------------------------------


async def test_access_url_is_sip002_without_padding(api: Api) -> None:
    _, key = await api("POST", "/access-keys", {"password": "pw", "method": "aes-128-gcm"})
    userinfo = base64.urlsafe_b64encode(b"aes-128-gcm:pw").decode().rstrip("=")
    assert key["accessUrl"] == f"ss://{userinfo}@127.0.0.1:{key['port']}/?outline=1"
    assert "=" not in key["accessUrl"].split("@")[0]
    assert "#" not in key["accessUrl"]


async def test_new_keys_get_a_random_password_and_the_default_cipher(api: Api) -> None:
    _, first = await api("POST", "/access-keys", {})
    _, second = await api("POST", "/access-keys", {})
    assert first["method"] == "chacha20-ietf-poly1305"
    assert first["password"] != second["password"]


async def test_post_ids_are_counters_never_reused(api: Api) -> None:
    ids = [(await api("POST", "/access-keys", {}))[1]["id"] for _ in range(2)]
    assert ids == ["0", "1"]
    assert (await api("DELETE", "/access-keys/1"))[0] == 204
    assert (await api("PUT", "/access-keys/2", {}))[0] == 201
    assert (await api("POST", "/access-keys", {}))[1]["id"] == "3"


async def test_post_with_an_id_is_refused(api: Api, emu: OutlineEmulator) -> None:
    status, error = await api("POST", "/access-keys", {"id": "mine"})
    assert (status, error["code"]) == (400, "InvalidArgument")
    assert emu.keys == {}


async def test_put_with_an_existing_id_is_a_conflict(api: Api) -> None:
    assert (await api("PUT", "/access-keys/a", {"name": "one"}))[0] == 201
    status, error = await api("PUT", "/access-keys/a", {"name": "two"})
    assert (status, error["code"]) == (409, "Conflict")
    assert (await api("GET", "/access-keys/a"))[1]["name"] == "one"


@pytest.mark.parametrize(
    "body",
    [
        {"method": "rc4-md5"},
        {"method": 5},
        {"port": 0.5},
        {"port": 70000},
        {"port": None},
        {"password": None},
        {"limit": {"bytes": -1}},
        {"limit": {}},
        {"limit": False},
        {"name": 3},
    ],
)
async def test_bad_create_parameters_are_invalid(api: Api, body: dict[str, Any]) -> None:
    status, error = await api("PUT", "/access-keys/k", body)
    assert status == 400
    assert error["code"] in ("InvalidArgument", "MissingParameter")


async def test_reused_password_is_a_conflict(api: Api) -> None:
    assert (await api("POST", "/access-keys", {"password": "same"}))[0] == 201
    assert (await api("POST", "/access-keys", {"password": "same"}))[0] == 409
    assert (await api("POST", "/access-keys", {"password": ""}))[1]["password"] == ""
    assert (await api("POST", "/access-keys", {"password": ""}))[0] == 409


async def test_an_existing_id_conflicts_before_the_cipher_is_checked(api: Api) -> None:
    await api("PUT", "/access-keys/a", {})
    assert (await api("PUT", "/access-keys/a", {"method": "rc4-md5"}))[0] == 409
    assert (await api("PUT", "/access-keys/a", {"name": 5}))[0] == 400


async def test_missing_keys_answer_not_found(api: Api) -> None:
    for method, path, body in [
        ("GET", "/access-keys/9", None),
        ("DELETE", "/access-keys/9", None),
        ("PUT", "/access-keys/9/name", {"name": "x"}),
        ("PUT", "/access-keys/9/data-limit", {"limit": {"bytes": 1}}),
        ("DELETE", "/access-keys/9/data-limit", None),
    ]:
        status, error = await api(method, path, body)
        assert (status, error["code"]) == (404, "NotFound"), (method, path)


async def test_key_rename_needs_a_non_empty_name(api: Api) -> None:
    await api("PUT", "/access-keys/1", {})
    assert (await api("PUT", "/access-keys/1/name", {"name": ""}))[0] == 400
    assert (await api("PUT", "/access-keys/1/name", {"name": "ok"}))[0] == 204
    assert (await api("GET", "/access-keys/1"))[1]["name"] == "ok"


async def test_data_limit_put_without_limit_removes_it(api: Api, emu: OutlineEmulator) -> None:
    await api("PUT", "/access-keys/1", {"limit": {"bytes": 10}})
    assert (await api("PUT", "/access-keys/1/data-limit", {"limit": {"bytes": 0}}))[0] == 204
    assert emu.key_limit("1") == 0
    assert (await api("PUT", "/access-keys/1/data-limit", {}))[0] == 204
    assert emu.key_limit("1") is None
    assert "dataLimit" not in (await api("GET", "/access-keys/1"))[1]


async def test_hand_made_records_are_completed_and_served(api: Api, emu: OutlineEmulator) -> None:
    emu.keys["orphan"] = {"id": "orphan"}
    status, body = await api("GET", "/access-keys")
    (key,) = body["accessKeys"]
    assert status == 200
    assert key["name"] == "" and key["accessUrl"].startswith("ss://")
    emu.keys["orphan"]["name"] = "edited"
    assert (await api("GET", "/access-keys/orphan"))[1]["name"] == "edited"


# --- usage and enforcement ------------------------------------------------------------------


async def test_limit_is_enforced_on_rolling_30_day_usage_at_the_hourly_check() -> None:
    clock = FakeClock()
    emu = OutlineEmulator(clock=clock)
    emu.create_key("1", {"limit": {"bytes": 100}})
    emu.add_traffic("1", 60, at=clock.now - 20 * DAY)
    emu.add_traffic("1", 40)
    assert emu.usage_30d("1") == 100
    assert not emu.is_blocked("1")  # until the next check
    clock.now += ENFORCEMENT_SECONDS
    assert emu.is_blocked("1")
    clock.now += 11 * DAY
    assert not emu.is_blocked("1")


async def test_a_key_created_with_a_zero_limit_passes_until_a_limit_changes(
    api: Api, emu: OutlineEmulator
) -> None:
    await api("PUT", "/access-keys/1", {"limit": {"bytes": 0}})
    assert not emu.is_blocked("1")  # shadowbox does not check a new key's limit
    assert (await api("PUT", "/access-keys/1/data-limit", {"limit": {"bytes": 0}}))[0] == 204
    assert emu.is_blocked("1")
    await api("DELETE", "/access-keys/1")
    await api("PUT", "/access-keys/1", {"limit": {"bytes": 0}})
    assert not emu.is_blocked("1")


async def test_a_limit_edited_into_a_record_counts_from_the_hourly_check(
    api: Api, emu: OutlineEmulator
) -> None:
    await api("PUT", "/access-keys/1", {})
    await api("PUT", "/access-keys/2", {"limit": {"bytes": 10}})
    emu.add_traffic("1", 50)
    emu.keys["1"]["dataLimit"] = {"bytes": 10}  # by hand: the API's calls do not see it
    assert (await api("PUT", "/access-keys/2/data-limit", {"limit": {"bytes": 5}}))[0] == 204
    assert not emu.is_blocked("1")
    emu.enforce_limits()  # the hourly check reads every record
    assert emu.is_blocked("1")
    assert (await api("DELETE", "/access-keys/1/data-limit"))[0] == 204
    assert not emu.is_blocked("1") and "1" not in emu.limited


async def test_server_default_limit_applies_to_keys_without_their_own(
    api: Api, emu: OutlineEmulator
) -> None:
    await api("PUT", "/access-keys/1", {})
    await api("PUT", "/access-keys/2", {"limit": {"bytes": 1000}})
    emu.add_traffic("1", 50)
    emu.add_traffic("2", 50)
    assert (await api("PUT", "/server/access-key-data-limit", {"limit": {}}))[0] == 400
    assert (await api("PUT", "/server/access-key-data-limit", {"limit": {"bytes": 50}}))[0] == 204
    assert (await api("GET", "/server"))[1]["accessKeyDataLimit"] == {"bytes": 50}
    assert emu.is_blocked("1") and not emu.is_blocked("2")
    assert (await api("DELETE", "/server/access-key-data-limit"))[0] == 204
    assert not emu.is_blocked("1")
    await api("PUT", "/server/access-key-data-limit", {"limit": {"bytes": 50}})
    assert (await api("PUT", "/server/access-key-data-limit", {}))[0] == 204  # clears it
    assert "accessKeyDataLimit" not in (await api("GET", "/server"))[1]
    assert not emu.is_blocked("1")


async def test_transfer_lists_only_keys_with_traffic_including_deleted_ones(
    api: Api, emu: OutlineEmulator
) -> None:
    for key_id in ("1", "2", "3"):
        await api("PUT", f"/access-keys/{key_id}", {})
    emu.add_traffic("1", 10)
    emu.add_traffic("3", 30)
    await api("DELETE", "/access-keys/3")
    status, body = await api("GET", "/metrics/transfer")
    assert (status, body) == (200, {"bytesTransferredByUserId": {"1": 10, "3": 30}})


async def test_deleted_usage_can_be_forgotten() -> None:
    emu = OutlineEmulator(forget_deleted_usage=True)
    emu.create_key("1", {})
    emu.add_traffic("1", 10)
    emu.delete_key("1")
    assert emu.transfer_json() == {"bytesTransferredByUserId": {}}


async def test_experimental_metrics_window_and_numeric_ids(api: Api, emu: OutlineEmulator) -> None:
    now = emu.clock()
    emu.add_traffic("5", 100, at=now - 2 * 3600)
    emu.add_traffic("5", 7, at=now - 30)
    emu.add_traffic("vk-1", 3, at=now - 30)
    status, body = await api("GET", "/experimental/server/metrics?since=1h")
    assert status == 200
    by_id = {
        entry["accessKeyId"]: entry["dataTransferred"]["bytes"] for entry in body["accessKeys"]
    }
    assert by_id == {5: 7, None: 3}
    assert body["server"]["dataTransferred"]["bytes"] == 10


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("", 400, "MissingParameter"),
        ("?since=1y", 400, "InvalidArgument"),
        ("?since=1m", 400, "InvalidArgument"),
        ("?since=1h&since=2h", 400, "InvalidArgument"),
        # Prometheus refuses these ranges, and shadowbox answers 500.
        ("?since=0s", 500, "InternalServer"),
        ("?since=h", 500, "InternalServer"),
        ("?since=-1h", 500, "InternalServer"),
        ("?since=2.5s", 500, "InternalServer"),
        ("?since=40d", 500, "InternalServer"),
    ],
)
async def test_bad_since_is_refused(api: Api, query: str, status: int, code: str) -> None:
    answer, error = await api("GET", "/experimental/server/metrics" + query)
    assert (answer, error["code"]) == (status, code)


@pytest.mark.parametrize("since", ["1.5h", "0x10s", "1e3s", "38d", "%201h"])
async def test_since_is_read_as_a_javascript_number(api: Api, since: str) -> None:
    assert (await api("GET", "/experimental/server/metrics?since=" + since))[0] == 200


async def test_older_servers_have_no_experimental_metrics() -> None:
    running = await start_emulator(experimental=False)
    try:
        async with aiohttp.ClientSession() as session:
            url = running.api_url + "/experimental/server/metrics?since=1h"
            async with session.get(url) as resp:
                assert resp.status == 404
                assert (await resp.json())["code"] == "ResourceNotFound"
    finally:
        await running.stop()


# --- faults ---------------------------------------------------------------------------------


async def test_faults_match_by_method_and_path(api: Api, emu: OutlineEmulator) -> None:
    emu.faults.fail_next(2, 503, path_contains="/access-keys", method="POST")
    assert (await api("GET", "/access-keys"))[0] == 200
    status, error = await api("POST", "/access-keys", {})
    assert (status, error["code"]) == (503, "ServiceUnavailable")
    assert (await api("POST", "/access-keys", {}))[0] == 503
    assert (await api("POST", "/access-keys", {}))[0] == 201
    assert len(emu.keys) == 1


async def test_app_can_be_served_by_aiohttp_server(aiohttp_server: Any) -> None:
    emu = OutlineEmulator()
    server = await aiohttp_server(build_app(emu, "/s3cret"))
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.make_url("/s3cret/server")) as resp,
    ):
        assert resp.status == 200
        assert (await resp.json())["serverId"] == emu.server_id
