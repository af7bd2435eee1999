"""The seam between the domain and a kind of VPN server: a small protocol and its values."""

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """How to reach one VPN server (``api_url`` is a secret)."""

    name: str
    kind: str
    api_url: str = field(repr=False)
    cert_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteKey:
    """An access key as the VPN server reports it."""

    id: str
    name: str
    access_url: str
    limit: int | None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the server says about itself."""

    name: str
    server_id: str
    version: str


class Backend(Protocol):
    """Operations the domain needs from one VPN server; every call raises ``vpn.errors``."""

    name: str

    async def server_info(self) -> ServerInfo: ...

    async def list_keys(self) -> list[RemoteKey]: ...

    async def get_key(self, key_id: str) -> RemoteKey: ...

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
        """Create a key under an id we chose (idempotent by id: 409 when it exists);
        ``fresh``: the id never held a key on this server."""

    async def delete_key(self, key_id: str) -> None: ...

    async def rename_key(self, key_id: str, name: str) -> None: ...

    async def set_limit(self, key_id: str, limit: int | None) -> None:
        """Set the key's data limit in bytes; ``None`` removes the limit."""

    async def usage(self) -> dict[str, int]:
        """Bytes per key id over the server's rolling window (30 days on Outline)."""

    async def usage_since(self, seconds: int) -> dict[str, int] | None:
        """Bytes per key id over the last ``seconds``; ``None`` when the server cannot say."""

    async def close(self) -> None: ...
