"""One cached client per VPN server, each with its own connection pool."""

import logging
from collections.abc import Callable

from vpn.backends import Backend, ServerConfig
from vpn.outline import Observer, OutlineClient

logger = logging.getLogger(__name__)

# kind -> factory(config, timeout, observe)
Factory = Callable[[ServerConfig, float, Observer | None], Backend]


def _outline(config: ServerConfig, timeout: float, observe: Observer | None) -> Backend:
    return OutlineClient(config, timeout=timeout, observe=observe)


KINDS: dict[str, Factory] = {"outline": _outline}


class BackendPool:
    """Hands out one client per server name; a hung server cannot starve another's pool."""

    def __init__(self, timeout: float, observe: Observer | None = None) -> None:
        self.timeout = timeout
        self._observe = observe
        self._clients: dict[str, tuple[ServerConfig, Backend]] = {}
        # Clients replaced after a config change; calls may still be in flight on them.
        self._retired: list[Backend] = []

    def get(self, config: ServerConfig) -> Backend:
        """The client for ``config.name``, re-created when its URL, kind or pin changed."""
        cached = self._clients.get(config.name)
        if cached is not None and cached[0] == config:
            return cached[1]
        factory = KINDS.get(config.kind)
        if factory is None:
            raise ValueError(f"unknown VPN server kind {config.kind!r}")
        client = factory(config, self.timeout, self._observe)
        if cached is not None:
            logger.debug("vpn pool: connection settings of %s changed", config.name)
            self._retired.append(cached[1])
        self._clients[config.name] = (config, client)
        return client

    async def close(self) -> None:
        """Close every client this pool handed out."""
        clients = [client for _, client in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            await client.close()
