"""Async client for the Outline server management API, with pinning, timeouts and typed errors."""

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from vpn.backends import RemoteKey, ServerConfig, ServerInfo
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

logger = logging.getLogger(__name__)
T = TypeVar("T")

_KEEPALIVE_SECONDS = 4.0
# A connection refused for its certificate is closed with a TLS shutdown the server may never
# answer; on the Pythons that would leak such a transport, aiohttp can abort it (its own flag).
_CLEANUP_CLOSED: bool = getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", False)
# (server name, operation, outcome "ok" or an error class name, seconds)
Observer = Callable[[str, str, str, float], None]
_STATUS_ERRORS: dict[int, type[VpnError]] = {
    400: VpnInvalid,
    404: VpnNotFound,
    409: VpnConflict,
}


def pin_for(cert_sha256: str | None) -> aiohttp.Fingerprint | bool:
    """The ``ssl`` argument: the pinned fingerprint, or default CA and hostname checks."""
    if not cert_sha256:
        return True
    digest = cert_sha256.replace(":", "").strip()
    try:
        return aiohttp.Fingerprint(bytes.fromhex(digest))
    except ValueError:
        raise ValueError("cert_sha256 must be 64 hexadecimal digits (SHA-256)") from None


class OutlineClient:
    """One Outline server; every call raises ``vpn.errors`` and never reveals ``api_url``."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        observe: Observer | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        self._base = config.api_url.rstrip("/")
        self._ssl = pin_for(config.cert_sha256)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None
        self._observe = observe

    async def server_info(self) -> ServerInfo:
        """Name, id and version the server reports."""
        data = await self._call("server_info", "GET", "/server")
        return _parse(
            self.name, lambda: ServerInfo(data["name"], data["serverId"], data["version"])
        )

    async def list_keys(self) -> list[RemoteKey]:
        """Every access key on the server."""
        data = await self._call("list_keys", "GET", "/access-keys")
        return _parse(self.name, lambda: [_key(item) for item in data["accessKeys"]])

    async def get_key(self, key_id: str) -> RemoteKey:
        """One access key (``VpnNotFound`` when absent)."""
        data = await self._call("get_key", "GET", "/access-keys/{id}", key_id)
        return _parse(self.name, lambda: _key(data))

    async def create_key(
        self,
        key_id: str,
        *,
        name: str,
        limit: int | None,
        method: str | None = None,
        password: str | None = None,
        port: int | None = None,
        fresh: bool = False,
    ) -> RemoteKey:
        """Create a key under an id we chose (``VpnConflict`` when it exists).

        Outline checks limits only at start-up, hourly and when a limit changes, so a key
        created with a limit it has reached (0 for a key issued already cut, or the usage
        an id used before still carries) would pass traffic for up to an hour; setting the
        limit once more makes the server enforce it at once. A ``fresh`` id has no usage:
        only a limit of 0 needs that second call.
        """
        body: dict[str, Any] = {"name": name}
        if limit is not None:
            body["limit"] = {"bytes": limit}
        extra = {"method": method, "password": password, "port": port}
        body.update({k: v for k, v in extra.items() if v is not None})
        data = await self._call("create_key", "PUT", "/access-keys/{id}", key_id, body=body)
        created = _parse(self.name, lambda: _key(data))
        if limit is not None and (limit == 0 or not fresh):
            await self._enforce_limit(key_id, limit)
        return created

    async def _enforce_limit(self, key_id: str, limit: int) -> None:
        """Set a just-created key's limit again, so the server applies it now.

        A failure here is never "no answer": a repeated create would find the key made and
        not put its limit in force.
        """
        try:
            await self.set_limit(key_id, limit)
        except VpnError as exc:
            raise VpnUnavailable(self.name, f"{exc.message} (after the create)") from None

    async def delete_key(self, key_id: str) -> None:
        """Delete a key (``VpnNotFound`` when absent)."""
        await self._call("delete_key", "DELETE", "/access-keys/{id}", key_id)

    async def rename_key(self, key_id: str, name: str) -> None:
        """Rename a key; Outline refuses an empty name."""
        await self._call(
            "rename_key", "PUT", "/access-keys/{id}/name", key_id, body={"name": name}
        )

    async def set_limit(self, key_id: str, limit: int | None) -> None:
        """Set the data limit in bytes (0 blocks the key at once); ``None`` removes it."""
        template = "/access-keys/{id}/data-limit"
        if limit is None:
            await self._call("set_limit", "DELETE", template, key_id)
        else:
            body = {"limit": {"bytes": limit}}
            await self._call("set_limit", "PUT", template, key_id, body=body)

    async def usage(self) -> dict[str, int]:
        """Bytes per key id over the server's rolling 30 days (keys without traffic omitted)."""
        data = await self._call("usage", "GET", "/metrics/transfer")
        return _parse(
            self.name,
            lambda: {str(k): int(v) for k, v in data["bytesTransferredByUserId"].items()},
        )

    async def usage_since(self, seconds: int) -> dict[str, int] | None:
        """Bytes per key id over the last ``seconds``; ``None`` when the server cannot say.

        Outline reports ``accessKeyId`` as JavaScript ``parseInt(id)``, so only ids written as
        plain decimal numbers survive; any other id makes the answer unusable.
        """
        if seconds <= 0:
            raise ValueError("seconds must be positive")
        try:
            data = await self._call(
                "usage_since", "GET", "/experimental/server/metrics", query=f"since={seconds}s"
            )
        except VpnNotFound:
            return None
        return _parse(self.name, lambda: _usage_by_numeric_id(data))

    async def close(self) -> None:
        """Close the pooled connections (only those this client opened)."""
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # Outline (Node) closes idle connections after 5 s; dropping ours sooner avoids
            # sending on a connection the server is closing.
            connector = aiohttp.TCPConnector(
                keepalive_timeout=_KEEPALIVE_SECONDS, enable_cleanup_closed=_CLEANUP_CLOSED
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            if hasattr(self._session, "_retry_connection"):
                # aiohttp silently re-sends PUT/DELETE once after a dropped connection (its own
                # test client turns that off too); a lost answer must surface, not repeat.
                self._session._retry_connection = False
            self._owns_session = True
        return self._session

    async def _call(
        self,
        op: str,
        method: str,
        template: str,
        key_id: str | None = None,
        *,
        body: dict[str, Any] | None = None,
        query: str = "",
    ) -> Any:
        """Send one request; nothing is retried (a failed sample is simply taken again later)."""
        path = template if key_id is None else template.replace("{id}", quote(key_id, safe=""))
        url = URL(f"{self._base}{path}" + (f"?{query}" if query else ""), encoded=True)
        if method in ("PUT", "POST") and body is None:
            body = {}
        return await self._timed(op, method, template, url, body)

    async def _timed(
        self, op: str, method: str, template: str, url: URL, body: dict[str, Any] | None
    ) -> Any:
        """One attempt, logged and observed with its outcome and duration."""
        where = f"{method} {template}"
        started = time.monotonic()
        status, outcome = 0, "ok"
        try:
            status, payload = await self._send(where, url, body)
            if status >= 300:
                raise self._status_error(where, status, payload)
            return payload
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            elapsed = time.monotonic() - started
            shown = status or "-"
            logger.debug(
                "outline %s %s -> %s %s in %.3fs", self.name, where, shown, outcome, elapsed
            )
            self._notify(op, outcome, elapsed)

    def _notify(self, op: str, outcome: str, elapsed: float) -> None:
        """Feed the metrics hook; its failure must never fail the VPN call."""
        if self._observe is None:
            return
        try:
            self._observe(self.name, op, outcome, elapsed)
        except Exception:
            logger.exception("outline metrics hook failed for %s", self.name)

    async def _send(self, where: str, url: URL, body: dict[str, Any] | None) -> tuple[int, Any]:
        """``(status, decoded body)``, or for an error status ``(status, error code)``."""
        method = where.split(" ", 1)[0]
        try:
            async with self._get_session().request(
                method,
                url,
                json=body,
                headers={"Content-Type": "application/json"},
                ssl=self._ssl,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                if resp.status >= 300:
                    return resp.status, await _error_code(resp)
                if resp.status == 204:
                    return resp.status, None
                return resp.status, await resp.json(content_type=None, loads=_loads)
        except aiohttp.ServerFingerprintMismatch:
            raise VpnCertificateMismatch(
                self.name, f"{where}: certificate fingerprint mismatch"
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise VpnCertificateMismatch(
                self.name, f"{where}: certificate verification failed (no cert_sha256 pinned?)"
            ) from None
        except TimeoutError:
            seconds = self._timeout.total
            raise VpnTimeout(self.name, f"{where}: no answer within {seconds}s") from None
        except aiohttp.ClientConnectorError as exc:  # never reached the server
            raise VpnUnavailable(self.name, f"{where}: {type(exc).__name__}") from None
        except aiohttp.ClientResponseError as exc:
            raise VpnNoAnswer(self.name, f"{where}: bad response ({exc.status})") from None
        except aiohttp.ClientError as exc:  # dropped after sending: the server may have acted
            raise VpnNoAnswer(self.name, f"{where}: {type(exc).__name__}") from None
        except ValueError:
            raise VpnNoAnswer(self.name, f"{where}: answer is not valid JSON") from None

    def _status_error(self, where: str, status: int, code: str) -> VpnError:
        text = f"{where}: HTTP {status}" + (f" {code}" if code else "")
        if status == 404 and code == "ResourceNotFound" and "/experimental/" not in where:
            # A wrong secret prefix, never a missing key: callers must not read it as "deleted".
            return VpnUnavailable(self.name, f"{text} (wrong api_url?)")
        return _STATUS_ERRORS.get(status, VpnUnavailable)(self.name, text)


async def _error_code(resp: aiohttp.ClientResponse) -> str:
    """The ``code`` of an Outline error body; its ``message`` may echo input, so it is dropped."""
    try:
        data = await resp.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return code if isinstance(code, str) and code.isidentifier() else ""


def _key(item: dict[str, Any]) -> RemoteKey:
    limit = item.get("dataLimit")
    return RemoteKey(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        access_url=str(item["accessUrl"]),
        limit=None if limit is None else int(limit["bytes"]),
    )


def _loads(text: str) -> Any:
    """JSON by orjson (a 10,000-key usage answer is 1.7 MB); what it refuses and the standard
    parser takes (a lone surrogate escaped in a key's name) by the latter."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _usage_by_numeric_id(data: dict[str, Any]) -> dict[str, int] | None:
    usage: dict[str, int] = {}
    for entry in data["accessKeys"]:
        key_id = entry.get("accessKeyId")
        if key_id.__class__ is not int:  # a bool is not an id either
            logger.debug("outline usage_since: a key id is not numeric; cannot attribute usage")
            return None
        name = str(key_id)
        usage[name] = usage.get(name, 0) + round(entry["dataTransferred"]["bytes"])
    return usage


def _parse(server: str, build: Callable[[], T]) -> T:
    """Run ``build`` over a decoded answer; a malformed answer becomes ``VpnUnavailable``."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError):
        raise VpnUnavailable(server, "unexpected answer from the server") from None
