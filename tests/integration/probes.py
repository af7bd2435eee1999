"""One set of raw management-API requests, replayed against a server, answers normalised.

Every route is probed with good and bad input, in an order where each probe's outcome
follows from the ones before it. The answers are reduced to what must match between the
real server and the emulator: status, error code, ``Allow``/``Location``, and the body
with ids, passwords, ports and timestamps replaced by stand-ins and the usage figures by
their types. Server settings the probes change are put back afterwards.
"""

import json
import re
import secrets
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

NO_BODY = object()
JSON = "application/json"
USAGE_PATHS = ("/metrics/transfer", "/experimental/server/metrics")
# Values that differ between any two servers: only their JSON type is compared.
OPAQUE = {"serverId", "createdTimestampMs", "version", "message"}
# A number or null, depending on what traffic the server has ever seen.
TIMESTAMPS = {"timestamp", "lastTrafficSeen"}
_ACCESS_URL = re.compile(r"ss://[A-Za-z0-9_-]+@(?P<host>.+):(?P<port>\d+)/(?P<rest>.*)")


@dataclass(frozen=True)
class Probe:
    """One request; ``{key:NAME}``, ``{api_port}``, ``{keys_port}`` and ``{free_port}`` in the
    path or in ``body`` are filled in per server. ``raw`` is sent as is, with ``ctype``."""

    method: str
    path: str
    body: Any = NO_BODY
    raw: str | None = None
    ctype: str | None = JSON

    def __str__(self) -> str:
        shown = self.raw if self.raw is not None else "" if self.body is NO_BODY else self.body
        return f"{self.method} {self.path} {shown!s}".strip()


def shape(value: Any) -> Any:
    """The JSON type of every value, keeping keys (numbers are one type, as in JavaScript)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted({json.dumps(shape(item), sort_keys=True) for item in value})
    if isinstance(value, bool) or value is None:
        return type(value).__name__
    return "number" if isinstance(value, int | float) else "string"


class Replay:
    """The probes run against one server: placeholders, created ids and the answers."""

    def __init__(self, api_url: str, cert_sha256: str | None) -> None:
        self.api_url = api_url.rstrip("/")
        parts = urlsplit(self.api_url)
        self.prefix = parts.path
        self.ssl: Any = aiohttp.Fingerprint(bytes.fromhex(cert_sha256)) if cert_sha256 else True
        self.run = "parity-" + secrets.token_hex(3)
        self.ports = {"api_port": parts.port or 443, "free_port": _free_port()}
        self.posted: dict[str, str] = {}  # ids the server chose -> stand-ins
        self.original: dict[str, Any] = {}

    def fill(self, text: str) -> str:
        """``text`` with this server's ids and ports."""
        text = re.sub(r"\{key:(\w+)\}", lambda m: quote(f"{self.run}-{m[1]}"), text)
        for name, port in self.ports.items():
            text = text.replace(f'"{{{name}}}"', str(port)).replace(f"{{{name}}}", str(port))
        return text

    async def replay(self, probes: list[Probe]) -> list[dict[str, Any]]:
        """Every probe's normalised answer; the server's settings are restored at the end."""
        connector = aiohttp.TCPConnector(ssl=self.ssl)
        async with aiohttp.ClientSession(connector=connector) as session:
            _, server = await self._send(session, Probe("GET", "/server"))
            self.original = server
            self.ports["keys_port"] = server["portForNewAccessKeys"]
            try:
                return [await self.answer(session, probe) for probe in probes]
            finally:
                await self._restore(session)

    async def answer(self, session: aiohttp.ClientSession, probe: Probe) -> dict[str, Any]:
        """One probe's answer, normalised."""
        status, body, headers = await self._send(session, probe, with_headers=True)
        if probe.method == "POST" and status == 201 and isinstance(body, dict):
            self.posted.setdefault(str(body.get("id")), f"posted-{len(self.posted)}")
        answer: dict[str, Any] = {"status": status, **headers}
        if isinstance(body, dict) and "code" in body:
            answer["code"] = body["code"]
        answer["body"] = self.normal(body, usage=probe.path.split("?")[0] in USAGE_PATHS)
        return answer

    async def _send(
        self, session: aiohttp.ClientSession, probe: Probe, *, with_headers: bool = False
    ) -> Any:
        data = probe.raw
        if data is None and probe.body is not NO_BODY:
            data = self.fill(json.dumps(probe.body))
        headers = {"Content-Type": probe.ctype} if probe.ctype else {}
        url = self.api_url + self.fill(probe.path)
        async with session.request(
            probe.method, url, data=data, headers=headers, allow_redirects=False
        ) as resp:
            text = await resp.text()
            body = json.loads(text) if text else None
            kept = {k: resp.headers[k] for k in ("Allow", "Location") if k in resp.headers}
        if "Location" in kept:
            kept["Location"] = kept["Location"].replace(self.prefix, "{prefix}")
        return (resp.status, body, kept) if with_headers else (resp.status, body)

    def _is_ours(self, key_id: Any) -> bool:
        return str(key_id).startswith(self.run) or str(key_id) in self.posted

    def _label(self, key_id: str) -> str:
        return self.posted.get(key_id, key_id.replace(self.run, "parity"))

    def normal(self, value: Any, field: str = "", usage: bool = False) -> Any:
        """``value`` with this server's ids, ports and secrets replaced by stand-ins, only
        the keys these probes made, and (``usage``) every figure reduced to its type."""
        if field == "bytesTransferredByUserId" and isinstance(value, dict):
            return {self._label(k): shape(v) for k, v in value.items() if self._is_ours(k)}
        if field == "accessKeys" and isinstance(value, list):
            value = [v for v in value if self._is_ours(v.get("id", v.get("accessKeyId")))]
        if field == "locations":
            return "list"  # traffic by location, whatever ran on the server before
        if field in TIMESTAMPS:
            return "timestamp"
        if isinstance(value, dict):
            return {k: self.normal(v, k, usage) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normal(v, field, usage) for v in value]
        if usage or field in OPAQUE:
            return shape(value)
        if field == "password":
            return value if value == "" else "<password>"
        if field in ("port", "portForNewAccessKeys"):
            names = {port: name for name, port in self.ports.items()}
            return "{" + names.get(value, "other") + "}"
        if field == "accessUrl":
            parts = _ACCESS_URL.fullmatch(value)
            assert parts is not None, value
            port = self.normal(int(parts["port"]), "port")
            return f"ss://<userinfo>@{parts['host']}:{port}/{parts['rest']}"
        return self._label(value) if isinstance(value, str) else value

    async def _restore(self, session: aiohttp.ClientSession) -> None:
        """Put back the settings the probes change, and delete every key they made."""
        was = self.original
        limit = "/server/access-key-data-limit"
        restore = [
            Probe("PUT", "/name", {"name": was["name"]}),
            Probe(
                "PUT",
                "/server/hostname-for-access-keys",
                {"hostname": was["hostnameForAccessKeys"]},
            ),
            Probe(
                "PUT", "/server/port-for-new-access-keys", {"port": was["portForNewAccessKeys"]}
            ),
            Probe("PUT", limit, {"limit": was["accessKeyDataLimit"]})
            if "accessKeyDataLimit" in was
            else Probe("DELETE", limit),
            Probe("PUT", "/metrics/enabled", {"metricsEnabled": was["metricsEnabled"]}),
        ]
        _, listed = await self._send(session, Probe("GET", "/access-keys"))
        for key in listed["accessKeys"]:
            if self._is_ours(key["id"]):
                restore.append(Probe("DELETE", "/access-keys/" + quote(key["id"], safe="")))
        for probe in restore:
            await self._send(session, probe)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
