"""The emulated Outline server: settings, access keys, usage and limit enforcement."""

import random
import time
import uuid
from collections.abc import Callable
from typing import Any

from vpn.emulator import checks, js
from vpn.emulator.checks import UNDEFINED, ApiError, KeyParams
from vpn.emulator.faults import Faults
from vpn.emulator.ports import port_in_use, random_free_port
from vpn.emulator.prometheus import Prometheus
from vpn.emulator.records import (
    DEFAULT_METHOD,
    KeyRecord,
    complete,
    limit_of,
    new_password,
    refresh_url,
    set_limit,
)
from vpn.emulator.traffic import DOWN, Series, TrafficLedger
from vpn.emulator.usage import MODES, ExactUsage, PrometheusUsage

# shadowbox re-checks every key's usage against its limit this often (and on limit changes).
ENFORCEMENT_SECONDS = 3600.0


class OutlineEmulator:
    """State and rules of one Outline server (``shadowbox`` 1.12), without the proxy."""

    def __init__(
        self,
        *,
        name: str = "Outline Server",
        hostname: str = "127.0.0.1",
        port_for_new_keys: int | None = None,
        experimental: bool = True,
        forget_deleted_usage: bool = False,
        clock: Callable[[], float] = time.time,
        version: str = "1.12.0",
        usage: str = "exact",
        scrape_seconds: float = 60.0,
        scrape_offset: float | None = None,
    ) -> None:
        self.name = name
        self.server_id = str(uuid.uuid4())
        self.created_timestamp_ms = int(clock() * 1000)
        self.version = version
        self.hostname = hostname
        self.port_for_new_keys = port_for_new_keys or random_free_port()
        self.metrics_enabled = False
        self.default_limit: int | None = None
        # The experimental metrics endpoint (server >= 1.12); off answers 404 like older ones.
        self.experimental = experimental
        # The real server keeps a deleted key's traffic under its id for 30 days.
        self.forget_deleted_usage = forget_deleted_usage
        self.clock = clock
        # id -> AccessKey dict; tests may read, edit, add or delete entries directly.
        self.keys: dict[str, KeyRecord] = {}
        # Ids of the keys with a limit of their own, kept by the API's calls (a limit edited
        # into a record by hand counts from the next hourly check).
        self.limited: set[str] = set()
        self.next_id = 0
        self.busy_ports: set[int] = set()
        self.traffic = TrafficLedger()
        self.use_usage_mode(usage, scrape_seconds, scrape_offset)
        # Keys the proxy refuses (shadowbox's ``reachedDataLimit``), as of the last check.
        self.over_limit: set[str] = set()
        self.next_enforcement = clock() + ENFORCEMENT_SECONDS
        self.faults = Faults()
        self.calls: list[tuple[str, str]] = []

    # --- server settings -------------------------------------------------------------------

    def server_json(self) -> dict[str, Any]:
        """``GET /server``."""
        data: dict[str, Any] = {
            "name": self.name,
            "serverId": self.server_id,
            "metricsEnabled": self.metrics_enabled,
            "createdTimestampMs": self.created_timestamp_ms,
            "version": self.version,
            "portForNewAccessKeys": self.port_for_new_keys,
            "hostnameForAccessKeys": self.hostname,
        }
        if self.default_limit is not None:
            data["accessKeyDataLimit"] = {"bytes": self.default_limit}
        return data

    def rename_server(self, params: dict[str, Any]) -> None:
        """``PUT /name``: 400 when missing or empty, 409 when not a string or too long."""
        name = params.get("name", UNDEFINED)
        if js.falsy(name):
            raise checks.missing("name")
        if not isinstance(name, str) or js.utf16_length(name) > 100:
            raise checks.invalid(
                "Requested server name should be a string <= 100 characters long.  "
                f"Got {js.js_str(name)}",
                status=409,
            )
        self.name = name

    def set_hostname(self, params: dict[str, Any]) -> None:
        """``PUT /server/hostname-for-access-keys`` (existing keys change only on restart)."""
        self.hostname = checks.hostname(params.get("hostname", UNDEFINED))

    def set_port_for_new_keys(self, params: dict[str, Any]) -> None:
        """``PUT /server/port-for-new-access-keys``; 409 when something else holds the port."""
        port = checks.number_param(params.get("port", UNDEFINED), "port")
        if port is None:
            raise checks.missing("port")
        self.port_for_new_keys = self._free_port(checks.port_number(port))

    def _free_port(self, port: int) -> int:
        """``port`` if keys use it or nothing holds it on loopback, else 409 (shadowbox's test)."""
        if any(record.get("port") == port for record in self.keys.values()):
            return port
        try:
            taken = port in self.busy_ports or port_in_use(port)
        except OSError:
            raise checks.internal() from None
        if taken:
            raise ApiError(409, "Conflict", f"Port {port} is unavailable")
        return port

    def set_default_limit(self, params: dict[str, Any]) -> None:
        """``PUT /server/access-key-data-limit``; a body without ``limit`` removes it."""
        try:
            self.default_limit = checks.data_limit(params.get("limit", UNDEFINED))
        except checks.JsTypeError:
            raise checks.internal() from None
        self._check_limits()

    def remove_default_limit(self) -> None:
        """``DELETE /server/access-key-data-limit``."""
        self.default_limit = None
        self._check_limits()

    def set_metrics_enabled(self, params: dict[str, Any]) -> None:
        """``PUT /metrics/enabled``."""
        enabled = params.get("metricsEnabled", UNDEFINED)
        if enabled is None or enabled is UNDEFINED:
            raise checks.missing("metricsEnabled")
        if not isinstance(enabled, bool):
            raise checks.invalid("Parameter `metricsEnabled` must be a boolean")
        self.metrics_enabled = enabled

    def restart(self) -> None:
        """Apply the current hostname to existing keys and check limits, as a restart does."""
        for key_id, record in list(self.keys.items()):
            refresh_url(self._complete(key_id, record), self.hostname)
        self.enforce_limits()

    # --- access keys -----------------------------------------------------------------------

    def key(self, key_id: str) -> KeyRecord:
        """The stored key (completed if hand-made) or 404 ``NotFound``."""
        record = self.keys.get(key_id)
        if record is None:
            raise ApiError(404, "NotFound", f'Access key "{key_id}" not found')
        return self._complete(key_id, record)

    def list_keys(self) -> list[KeyRecord]:
        """Every stored key, completed."""
        return [self._complete(key_id, record) for key_id, record in list(self.keys.items())]

    def _complete(self, key_id: str, record: dict[str, Any]) -> KeyRecord:
        completed = complete(record, key_id, self.hostname, self.port_for_new_keys)
        self.keys[key_id] = completed
        return completed

    def create_key(self, key_id: str | None, params: dict[str, Any]) -> KeyRecord:
        """``POST /access-keys`` (``key_id`` None) or ``PUT /access-keys/{id}``, checked in
        shadowbox's order: parameter types, then the id, the password, the cipher, the port."""
        if key_id is None and not js.falsy(params.get("id", UNDEFINED)):
            raise checks.invalid("Parameter `id` is not allowed")
        wanted = KeyParams.parse(params)
        if key_id is None:
            key_id = self._next_id()  # taken even when a later check fails, as shadowbox does
        elif key_id in self.keys:
            raise ApiError(409, "Conflict", f'Access key "{key_id}" conflict')
        if wanted.password in {k.get("password") for k in self.keys.values()} - {None}:
            raise ApiError(409, "Conflict", f"Access key {key_id} has the same password")
        method = wanted.method or DEFAULT_METHOD
        if method not in checks.CIPHERS:
            raise checks.invalid(f'cipher "{method}" is not valid')
        port = self.port_for_new_keys
        if wanted.port not in (None, port):
            port = self._free_port(checks.port_number(wanted.port))
        password = new_password() if wanted.password is None else wanted.password
        record = KeyRecord(id=key_id, name=wanted.name, password=password, port=port)
        record["method"] = method
        self._set_limit(key_id, record, wanted.limit)
        refresh_url(record, self.hostname)
        self.keys[key_id] = record
        self.over_limit.discard(key_id)  # a new key passes until the next check
        return record

    def _next_id(self) -> str:
        while str(self.next_id) in self.keys:
            self.next_id += 1
        self.next_id += 1
        return str(self.next_id - 1)

    def delete_key(self, key_id: str) -> None:
        """``DELETE /access-keys/{id}``."""
        self.key(key_id)
        del self.keys[key_id]
        self.limited.discard(key_id)
        self.over_limit.discard(key_id)
        if self.forget_deleted_usage:
            self.traffic.forget(key_id)

    def rename_key(self, key_id: str, params: dict[str, Any]) -> None:
        """``PUT /access-keys/{id}/name``: a non-empty string (of any length)."""
        name = params.get("name", UNDEFINED)
        if js.falsy(name):
            raise checks.missing("name")
        if not isinstance(name, str):
            raise checks.invalid("Parameter `name` must be of type string")
        self.key(key_id)["name"] = name

    def set_key_limit(self, key_id: str, params: dict[str, Any]) -> None:
        """``PUT /access-keys/{id}/data-limit``; a body without ``limit`` removes it (quirk)."""
        limit = checks.data_limit(params.get("limit", UNDEFINED))
        self._set_limit(key_id, self.key(key_id), limit)
        self._check_limits()

    def remove_key_limit(self, key_id: str) -> None:
        """``DELETE /access-keys/{id}/data-limit``."""
        self._set_limit(key_id, self.key(key_id), None)
        self._check_limits()

    def _set_limit(self, key_id: str, record: KeyRecord, limit: int | None) -> None:
        set_limit(record, limit)
        if limit is None:
            self.limited.discard(key_id)
        else:
            self.limited.add(key_id)

    def key_limit(self, key_id: str) -> int | None:
        """The key's own data limit in bytes (``KeyError`` if there is no such key)."""
        return limit_of(self.keys[key_id])

    # --- usage and enforcement -------------------------------------------------------------

    def use_usage_mode(
        self, mode: str, scrape_seconds: float = 60.0, scrape_offset: float | None = None
    ) -> None:
        """Answer usage ``exact``-ly or as real Outline does (``prometheus``, the default of
        ledger tests): scrapes every ``scrape_seconds`` at ``scrape_offset`` past the minute."""
        if mode not in MODES:
            raise ValueError(f"usage mode must be one of {MODES}")
        offset = random.uniform(0, scrape_seconds) if scrape_offset is None else scrape_offset
        self.prometheus = Prometheus(
            self.traffic, lambda: self.clock(), interval=scrape_seconds, offset=offset
        )
        exact = ExactUsage(self.traffic, lambda: self.clock())
        self.usage = exact if mode == "exact" else PrometheusUsage(self.prometheus)

    def add_traffic(
        self, key_id: str, nbytes: int, at: float | None = None, series: Series = DOWN
    ) -> None:
        """Record traffic of ``key_id`` at ``at`` (default: now by ``clock``)."""
        self.traffic.add(key_id, nbytes, self.clock() if at is None else at, series)

    def reset_usage(self) -> None:
        """Lose the metrics store (every sample; in exact mode every count)."""
        if isinstance(self.usage, PrometheusUsage):
            self.prometheus.wipe()
        else:
            self.traffic.reset()

    def restart_prometheus(self, down_for: float) -> None:
        """Prometheus stops now for ``down_for`` seconds; the scrapes in between are missed."""
        self.prometheus.restart(down_for)

    def restart_proxy(self) -> None:
        """ss-server restarts now: its counters start again at zero."""
        self.prometheus.catch_up()
        self.traffic.restart(self.clock())

    def usage_30d(self, key_id: str) -> int:
        """The rolling 30-day usage the server enforces limits against."""
        return self.usage.usage_30d(key_id)

    def effective_limit(self, key_id: str) -> int | None:
        """The key's limit, else the server-wide default, else ``None``."""
        limit = limit_of(self.keys[key_id])
        return self.default_limit if limit is None else limit

    def is_blocked(self, key_id: str) -> bool:
        """Whether the proxy refuses the key now: ``usage_30d >= limit`` at the last check."""
        if self.clock() >= self.next_enforcement:
            self.enforce_limits()
        return key_id in self.over_limit

    def enforce_limits(self) -> None:
        """Check every key's usage against its limit, as shadowbox does hourly (limits
        edited into the records by hand included)."""
        self.limited = {key_id for key_id, record in self.keys.items() if "dataLimit" in record}
        self._check_limits()

    def _check_limits(self) -> None:
        """The check itself, also run on every limit change: only the keys with a limit of
        their own can be over one, unless the server has a default."""
        now = self.clock()
        while self.next_enforcement <= now:
            self.next_enforcement += ENFORCEMENT_SECONDS
        keys = self.keys.keys()
        limited = keys & self.limited if self.default_limit is None else keys
        self.over_limit = {
            key_id
            for key_id in limited
            if (limit := self.effective_limit(key_id)) is not None
            and self.usage_30d(key_id) >= limit
        }

    def transfer_json(self) -> dict[str, Any]:
        """``GET /metrics/transfer``: 30-day bytes per key id with traffic."""
        if self.prometheus.is_down(self.clock()):
            raise ApiError(500, "InternalServer", "")
        return self.usage.transfer_json()

    def server_metrics_json(self, since: str | None) -> dict[str, Any]:
        """``GET /experimental/server/metrics?since=…`` (``accessKeyId`` is ``parseInt(id)``)."""
        seconds = checks.since_seconds(since)
        if self.prometheus.is_down(self.clock()):
            raise ApiError(500, "InternalServer", "")
        return self.usage.server_metrics_json(seconds)
