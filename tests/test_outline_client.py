"""The Outline client against the emulator over real HTTP(S): results, typed errors, secrecy."""

import logging
import traceback
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from vpn.backends import ServerConfig
from vpn.emulator import RunningEmulator, start_emulator
from vpn.errors import (
    VpnCertificateMismatch,
    VpnConflict,
    VpnError,
    VpnInvalid,
    VpnNoAnswer,
    VpnNotFound,
    VpnTimeout,
    VpnUnavailable,
)
from vpn.outline import OutlineClient
from vpn.pool import BackendPool
from vpn.ssurl import parse_access_url

DAY = 86400.0


class FakeClock:
    """A settable clock for ageing traffic."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(outline_server: RunningEmulator) -> AsyncIterator[OutlineClient]:
    """A client of the plain-HTTP emulator, named ``alpha``."""
    backend = OutlineClient(outline_server.config("alpha"), timeout=1.0)
    yield backend
    await backend.close()


@pytest.fixture
async def fast_client(outline_server: RunningEmulator) -> AsyncIterator[OutlineClient]:
    """A client with a 0.2 s timeout, for hang tests."""
    backend = OutlineClient(outline_server.config("alpha"), timeout=0.2)
    yield backend
    await backend.close()


# --- happy paths ----------------------------------------------------------------------------


async def test_server_info_reports_name_id_and_version(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    info = await client.server_info()
    assert info.name == "Outline Server"
    assert info.server_id == outline_server.emulator.server_id
    assert info.version == "1.12.0"


async def test_created_key_has_our_id_name_and_a_working_access_url(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    key = await client.create_key("vk-1", name="Alice", limit=None)
    stored = outline_server.emulator.keys["vk-1"]
    assert (key.id, key.name, key.limit) == ("vk-1", "Alice", None)
    assert key.access_url == stored["accessUrl"]
    creds = parse_access_url(key.access_url)
    assert (creds.method, creds.password, creds.port) == (
        stored["method"],
        stored["password"],
        stored["port"],
    )


async def test_create_key_passes_method_password_and_port(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    key = await client.create_key(
        "7", name="n", limit=5, method="aes-256-gcm", password="secret-pw", port=4567
    )
    creds = parse_access_url(key.access_url)
    assert (creds.method, creds.password, creds.port) == ("aes-256-gcm", "secret-pw", 4567)
    assert key.limit == 5
    assert outline_server.emulator.key_limit("7") == 5


async def test_zero_limit_is_really_sent_and_blocks_the_key(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    key = await client.create_key("1", name="n", limit=0)
    assert key.limit == 0
    assert outline_server.emulator.key_limit("1") == 0
    assert outline_server.emulator.is_blocked("1")


async def test_a_fresh_id_with_room_left_is_created_in_one_call(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    await client.create_key("1", name="n", limit=5, fresh=True)  # no usage: nothing to enforce
    await client.create_key("2", name="n", limit=0, fresh=True)  # cut: enforced at once
    await client.create_key("3", name="n", limit=5)  # an id used before may carry usage
    limits = [path for method, path in outline_server.emulator.calls if path.endswith("-limit")]
    assert limits == ["/access-keys/2/data-limit", "/access-keys/3/data-limit"]
    assert outline_server.emulator.key_limit("1") == 5


async def test_a_lost_answer_after_a_create_is_a_plain_failure_not_a_maybe(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.drop_next(1, method="PUT", path_contains="/data-limit")
    with pytest.raises(VpnUnavailable) as raised:
        await client.create_key("1", name="n", limit=0)
    assert not isinstance(raised.value, VpnNoAnswer)  # a repeated create must not skip it


async def test_set_limit_zero_blocks_and_none_removes_the_limit(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    await client.create_key("1", name="n", limit=None)
    await client.set_limit("1", 0)
    assert outline_server.emulator.key_limit("1") == 0
    await client.set_limit("1", None)
    assert outline_server.emulator.key_limit("1") is None
    assert not outline_server.emulator.is_blocked("1")
    assert ("DELETE", "/access-keys/1/data-limit") in outline_server.emulator.calls


async def test_list_and_get_return_what_the_server_holds(client: OutlineClient) -> None:
    await client.create_key("1", name="one", limit=10)
    await client.create_key("2", name="two", limit=None)
    listed = {key.id: key for key in await client.list_keys()}
    assert set(listed) == {"1", "2"}
    assert await client.get_key("1") == listed["1"]
    assert listed["1"].limit == 10


async def test_a_name_orjson_refuses_is_still_read(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    await client.create_key("1", name="k", limit=None)
    outline_server.emulator.keys["1"]["name"] = "half \ud800 a pair"  # sent as "\ud800"
    (listed,) = await client.list_keys()
    assert listed.name == "half \ud800 a pair"


async def test_rename_and_delete_change_the_server(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    await client.create_key("1", name="old", limit=None)
    await client.rename_key("1", "new")
    assert outline_server.emulator.keys["1"]["name"] == "new"
    await client.delete_key("1")
    assert "1" not in outline_server.emulator.keys


async def test_key_ids_with_reserved_characters_round_trip(client: OutlineClient) -> None:
    key = await client.create_key("a b/c?d", name="n", limit=None)
    assert key.id == "a b/c?d"
    assert (await client.get_key("a b/c?d")).id == "a b/c?d"


# --- typed errors ---------------------------------------------------------------------------


async def test_missing_key_is_not_found(client: OutlineClient) -> None:
    with pytest.raises(VpnNotFound):
        await client.get_key("404")
    with pytest.raises(VpnNotFound):
        await client.delete_key("404")
    with pytest.raises(VpnNotFound):
        await client.set_limit("404", 1)


async def test_existing_id_is_a_conflict(client: OutlineClient) -> None:
    await client.create_key("1", name="n", limit=None)
    with pytest.raises(VpnConflict):
        await client.create_key("1", name="again", limit=None)


async def test_rejected_input_is_invalid(client: OutlineClient) -> None:
    await client.create_key("1", name="n", limit=None)
    with pytest.raises(VpnInvalid):
        await client.create_key("2", name="n", limit=None, method="rc4-md5")
    with pytest.raises(VpnInvalid):
        await client.rename_key("1", "")
    with pytest.raises(VpnInvalid):
        await client.set_limit("1", -1)


async def test_server_error_is_unavailable_and_changes_nothing(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.fail_next(1, 500, path_contains="/access-keys")
    with pytest.raises(VpnUnavailable) as caught:
        await client.create_key("1", name="n", limit=None)
    assert "HTTP 500" in caught.value.message
    assert outline_server.emulator.keys == {}


async def test_hung_server_times_out_after_acting(
    fast_client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.hang_next(1, 0.5, method="PUT")
    with pytest.raises(VpnTimeout):
        await fast_client.create_key("1", name="n", limit=None)
    await outline_server.emulator.faults.pause(0.5)
    assert "1" in outline_server.emulator.keys


async def test_hang_before_acting_times_out_and_leaves_nothing(
    fast_client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.hang_before_next(1, 0.5, method="PUT")
    with pytest.raises(VpnTimeout):
        await fast_client.create_key("1", name="n", limit=None)
    await outline_server.emulator.faults.pause(0.5)
    assert outline_server.emulator.keys == {}


async def test_dropped_create_is_unavailable_and_never_retried(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.drop_next(1, method="PUT")
    with pytest.raises(VpnUnavailable) as caught:
        await client.create_key("1", name="n", limit=None)
    assert not isinstance(caught.value, VpnTimeout)
    assert "1" in outline_server.emulator.keys
    assert outline_server.emulator.calls.count(("PUT", "/access-keys/1")) == 1


async def test_dropped_read_is_unavailable(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    outline_server.emulator.faults.drop_next(1, method="GET")
    with pytest.raises(VpnUnavailable):
        await client.list_keys()
    assert await client.list_keys() == []


async def test_refused_connection_is_unavailable() -> None:
    running = await start_emulator()
    config = running.config("gone")
    await running.stop()
    backend = OutlineClient(config, timeout=1.0)
    try:
        with pytest.raises(VpnUnavailable):
            await backend.server_info()
    finally:
        await backend.close()


async def test_wrong_secret_prefix_is_unavailable_not_a_missing_key(
    outline_server: RunningEmulator,
) -> None:
    parts = urlsplit(outline_server.api_url)
    config = ServerConfig("alpha", "outline", f"{parts.scheme}://{parts.netloc}/wrong")
    backend = OutlineClient(config, timeout=1.0)
    try:
        with pytest.raises(VpnUnavailable) as caught:
            await backend.get_key("1")
        assert not isinstance(caught.value, VpnNotFound)
    finally:
        await backend.close()


# --- usage ----------------------------------------------------------------------------------


async def test_usage_is_a_rolling_30_day_sum() -> None:
    clock = FakeClock()
    running = await start_emulator(clock=clock)
    backend = OutlineClient(running.config("alpha"), timeout=1.0)
    try:
        await backend.create_key("1", name="n", limit=None)
        await backend.create_key("2", name="idle", limit=None)
        running.emulator.add_traffic("1", 100, at=clock.now - 29 * DAY)
        running.emulator.add_traffic("1", 50)
        assert await backend.usage() == {"1": 150}
        clock.now += 2 * DAY
        assert await backend.usage() == {"1": 50}
        running.emulator.reset_usage()
        assert await backend.usage() == {}
    finally:
        await backend.close()
        await running.stop()


async def test_usage_since_counts_only_the_recent_window() -> None:
    clock = FakeClock()
    running = await start_emulator(clock=clock)
    backend = OutlineClient(running.config("alpha"), timeout=1.0)
    try:
        running.emulator.add_traffic("3", 70, at=clock.now - 7200)
        running.emulator.add_traffic("3", 30, at=clock.now - 60)
        running.emulator.add_traffic("4", 5, at=clock.now - 10)
        assert await backend.usage_since(3600) == {"3": 30, "4": 5}
        assert await backend.usage_since(3 * 3600) == {"3": 100, "4": 5}
        assert ("GET", "/experimental/server/metrics") in running.emulator.calls
    finally:
        await backend.close()
        await running.stop()


async def test_usage_since_is_none_on_servers_without_the_endpoint() -> None:
    running = await start_emulator(experimental=False)
    backend = OutlineClient(running.config("old"), timeout=1.0)
    try:
        assert await backend.usage_since(3600) is None
    finally:
        await backend.close()
        await running.stop()


async def test_usage_since_is_none_when_key_ids_are_not_numbers(
    client: OutlineClient, outline_server: RunningEmulator
) -> None:
    # Outline reports parseInt(id): "vk-…" comes back as null and cannot be attributed.
    outline_server.emulator.add_traffic("vk-abc", 10)
    assert await client.usage() == {"vk-abc": 10}
    assert await client.usage_since(3600) is None


# --- TLS pinning ----------------------------------------------------------------------------


async def test_pinned_certificate_is_accepted(outline_tls_server: RunningEmulator) -> None:
    assert outline_tls_server.cert_sha256 is not None
    assert outline_tls_server.api_url.startswith("https://")
    backend = OutlineClient(outline_tls_server.config("tls"), timeout=1.0)
    try:
        assert (await backend.server_info()).version == "1.12.0"
    finally:
        await backend.close()


async def test_wrong_fingerprint_is_refused(outline_tls_server: RunningEmulator) -> None:
    config = ServerConfig("tls", "outline", outline_tls_server.api_url, "AB" * 32)
    backend = OutlineClient(config, timeout=1.0)
    try:
        with pytest.raises(VpnCertificateMismatch) as caught:
            await backend.server_info()
    finally:
        await backend.close()
    assert "certificate fingerprint mismatch" in str(caught.value)
    assert outline_tls_server.api_url not in str(caught.value)
    assert outline_tls_server.prefix not in str(caught.value)


async def test_unpinned_self_signed_certificate_is_refused(
    outline_tls_server: RunningEmulator,
) -> None:
    config = ServerConfig("tls", "outline", outline_tls_server.api_url, None)
    backend = OutlineClient(config, timeout=1.0)
    try:
        with pytest.raises(VpnCertificateMismatch):
            await backend.server_info()
    finally:
        await backend.close()


def test_malformed_fingerprint_is_rejected_up_front() -> None:
    config = ServerConfig("x", "outline", "https://127.0.0.1:1/secret", "not-hex")
    with pytest.raises(ValueError, match="cert_sha256"):
        OutlineClient(config, timeout=1.0)


# --- secrecy and observation ----------------------------------------------------------------


async def test_no_error_or_log_line_contains_the_secret_prefix(
    fast_client: OutlineClient,
    outline_server: RunningEmulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    faults = outline_server.emulator.faults
    await fast_client.create_key("1", name="n", limit=None)
    faults.fail_next(1, 503, path_contains="/server")
    faults.hang_next(1, 0.5, method="DELETE")
    faults.drop_next(1, path_contains="/access-keys/2")
    attempts = [
        lambda: fast_client.get_key("missing"),
        lambda: fast_client.create_key("1", name="n", limit=None),
        lambda: fast_client.create_key("2", name="n", limit=None),
        lambda: fast_client.server_info(),
        lambda: fast_client.delete_key("1"),
        lambda: fast_client.rename_key("1", ""),
        lambda: fast_client.set_limit("1", -5),
    ]
    errors: list[VpnError] = []
    for attempt in attempts:
        with pytest.raises(VpnError) as caught:
            await attempt()
        errors.append(caught.value)
    assert len({type(e) for e in errors}) == 6
    for error in errors:
        shown = "".join(traceback.format_exception(error))
        assert outline_server.prefix not in shown
        assert error.__cause__ is None
    assert caplog.records
    assert outline_server.prefix not in caplog.text
    assert "ss://" not in caplog.text


async def test_observer_sees_every_call_with_its_outcome(
    outline_server: RunningEmulator,
) -> None:
    seen: list[tuple[str, str, str]] = []
    backend = OutlineClient(
        outline_server.config("alpha"),
        timeout=1.0,
        observe=lambda server, op, outcome, seconds: seen.append((server, op, outcome)),
    )
    try:
        await backend.create_key("1", name="n", limit=None)
        with pytest.raises(VpnConflict):
            await backend.create_key("1", name="n", limit=None)
    finally:
        await backend.close()
    assert seen == [("alpha", "create_key", "ok"), ("alpha", "create_key", "VpnConflict")]


# --- pool -----------------------------------------------------------------------------------


async def test_pool_keeps_one_client_per_server_until_its_settings_change(
    backend_pool: BackendPool, outline_server: RunningEmulator
) -> None:
    config = outline_server.config("alpha")
    first = backend_pool.get(config)
    assert backend_pool.get(config) is first
    assert backend_pool.get(outline_server.config("beta")) is not first
    moved = ServerConfig("alpha", "outline", config.api_url + "x")
    assert backend_pool.get(moved) is not first
    assert (await first.server_info()).version == "1.12.0"


def test_pool_refuses_unknown_server_kinds() -> None:
    pool = BackendPool(timeout=1.0)
    with pytest.raises(ValueError, match="wireguard"):
        pool.get(ServerConfig("w", "wireguard", "http://127.0.0.1:1/x"))


async def test_pool_close_closes_every_client(outline_server: RunningEmulator) -> None:
    pool = BackendPool(timeout=1.0)
    client = pool.get(outline_server.config("alpha"))
    await client.server_info()
    await pool.close()
    assert isinstance(client, OutlineClient)
    assert client._session is None


async def test_a_failing_metrics_hook_does_not_fail_the_call(
    outline_server: RunningEmulator,
) -> None:
    def broken(server: str, op: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    backend = OutlineClient(outline_server.config("alpha"), timeout=1.0, observe=broken)
    try:
        assert (await backend.server_info()).version == "1.12.0"
    finally:
        await backend.close()
